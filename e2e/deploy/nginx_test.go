package deploy

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
)

// filter is the dashboard's filter in this test.
const filter = "status=open"

// TestNginx_DashboardResumesOnTheOtherReplica runs docs/deploy/nginx.conf
// in front of two replicas: REST and a dashboard socket go through TLS,
// the replica serving the dashboard is stopped while tickets change, and
// the dashboard, reconnecting through nginx with its cursor, ends with
// exactly the tickets the database holds.
func TestNginx_DashboardResumesOnTheOtherReplica(t *testing.T) {
	start := time.Now()
	db := pgtest.NewDatabase(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	env := []string{"TICKETSTREAM_DATABASE=" + db, "TICKETSTREAM_JWT_SECRET=" + hex.EncodeToString(secret)}
	// The flags of docs/deploy/ticketstream.service that matter behind
	// the proxy.
	flags := []string{"--allowed-hosts", publicHost, "--max-connections-per-address", "10000", "--max-streams-per-address", "1000"}
	replicas := [2]*replica{
		startReplica(t, "a", env, append(flags, "--demo-tickets", "500")...),
		nil,
	}
	replicas[1] = startReplica(t, "b", env, append(flags, "--demo-tickets", "0")...)
	p := startNginx(t, [2]string{replicas[0].Addr, replicas[1].Addr})
	t.Logf("two replicas and nginx up in %s", time.Since(start).Round(time.Millisecond))
	token := issueToken(t, env)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	t.Run("REST", func(t *testing.T) { checkREST(t, p, token, openTickets(t, conn)) })

	view := &wsclient.View{}
	c := dialThrough(t, p, token, view)
	if err := c.WaitFor(ctx, 30*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatalf("snapshot through nginx: %v", err)
	}
	// A snapshot holds what was committed below the oldest running
	// transaction; what a transaction still open then wrote arrives as
	// changes right after, so the view is compared once it settles.
	var diff string
	if err := c.WaitFor(ctx, 30*time.Second, func(v *wsclient.View) bool {
		diff = compare(v, openTickets(t, conn))
		return diff == ""
	}); err != nil {
		t.Fatalf("the dashboard through nginx differs from the database: %s (%v)", diff, err)
	}
	serving, other := replicaOf(t, replicas)
	t.Logf("dashboard on replica %s", serving.name)

	w := &writer{t: t, conn: conn, nextID: 1_000_000}
	w.round("before the stop")
	stopped := time.Now()
	if err := serving.stop(); err != nil {
		t.Fatalf("replica %s: %v\n%s", serving.name, err, serving.Output())
	}
	// The socket ends with the replica's close; what arrived before it is
	// in the view, with the cursor of the last message.
	err = c.WaitFor(ctx, 30*time.Second, func(*wsclient.View) bool { return false })
	if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
		t.Fatalf("the stopped replica's socket ended with %v, want close 1001", err)
	}
	w.round("while the dashboard is away")

	c = dialThrough(t, p, token, view)
	defer c.Conn.CloseNow()
	if n := other.sockets(t); n != 1 {
		t.Fatalf("replica %s holds %d sockets after the reconnect, want 1", other.name, n)
	}
	w.round("after the resume")
	err = c.WaitFor(ctx, 30*time.Second, func(v *wsclient.View) bool {
		diff = compare(v, openTickets(t, conn))
		return diff == "" && v.CheckTotals() == nil
	})
	if err != nil {
		t.Fatalf("the resumed dashboard differs from the database: %s (%v; totals: %v)", diff, err, view.CheckTotals())
	}
	if n := view.Counts; n.Duplicates+n.Regressions+n.Resyncs != 0 {
		t.Fatalf("the resumed dashboard saw %+v", n)
	}
	t.Logf("resumed on replica %s and caught up %s after the stop; %d tickets, %d changes received",
		other.name, time.Since(stopped).Round(time.Millisecond), len(view.Tickets), view.Counts.Changes)

	resp, err := p.client.Get(p.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz through nginx with one replica down: %d", resp.StatusCode)
	}
	t.Logf("whole test %s", time.Since(start).Round(time.Millisecond))
}

// issueToken makes a token for every team with the binary's token command.
func issueToken(t *testing.T, env []string) string {
	t.Helper()
	cmd := exec.Command(buildBinary(t), "token", "--teams", "*", "--subject", "deploy-test")
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ticketstream token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// dialThrough opens a dashboard socket through nginx, resuming from
// view.Cursor when it is set. wsclient.Dial uses the default HTTP client,
// which neither trusts the test's certificate nor resolves publicHost, so
// the socket is opened here and handed to a wsclient.Client as Dial does.
func dialThrough(t *testing.T, p *proxy, token string, view *wsclient.View) *wsclient.Client {
	t.Helper()
	q := filter
	if view.Cursor != "" {
		q += "&cursor=" + view.Cursor
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	u := "wss" + strings.TrimPrefix(p.base, "https") + "/v1/stream?" + q
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient:   p.client,
		Subprotocols: []string{wsclient.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("socket through nginx: %v (HTTP %d)", err, status)
	}
	c.SetReadLimit(8 << 20)
	view.Sub = 0
	if view.Cursor != "" {
		view.Sub = 1
	}
	return &wsclient.Client{Conn: c, View: view}
}

// replicaOf finds the replica holding the test's one socket.
func replicaOf(t *testing.T, rs [2]*replica) (serving, other *replica) {
	t.Helper()
	a, b := rs[0].sockets(t), rs[1].sockets(t)
	switch {
	case a == 1 && b == 0:
		return rs[0], rs[1]
	case a == 0 && b == 1:
		return rs[1], rs[0]
	}
	t.Fatalf("replicas hold %d and %d sockets, want one socket in all", a, b)
	return nil, nil
}

// dbTicket is what the test compares of a ticket.
type dbTicket struct {
	subject   string
	updatedAt time.Time
}

// openTickets reads the tickets of the filter from the database.
func openTickets(t *testing.T, conn *pgx.Conn) map[int64]dbTicket {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT id, subject, updated_at FROM tickets WHERE status = 'open'`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]dbTicket{}
	for rows.Next() {
		var id int64
		var d dbTicket
		if err := rows.Scan(&id, &d.subject, &d.updatedAt); err != nil {
			t.Fatal(err)
		}
		out[id] = d
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// compare says how the view differs from want, "" when it does not.
func compare(v *wsclient.View, want map[int64]dbTicket) string {
	var missing, extra, stale []int64
	for id, d := range want {
		got, ok := v.Tickets[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case got.Subject != d.subject || !got.UpdatedAt.Equal(d.updatedAt) || got.Status != domain.StatusOpen:
			stale = append(stale, id)
		}
	}
	for id := range v.Tickets {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
	}
	if len(missing)+len(extra)+len(stale) == 0 {
		return ""
	}
	return fmt.Sprintf("missing %v, not in the filter %v, stale %v", missing, extra, stale)
}

// writer changes tickets the way a help desk does: edits, tickets leaving
// and entering the filter, deletions and new tickets.
type writer struct {
	t      *testing.T
	conn   *pgx.Conn
	nextID int64
}

// round writes one batch of changes, each statement its own transaction.
func (w *writer) round(label string) {
	w.t.Helper()
	ctx := context.Background()
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE tickets SET subject = $1, updated_at = GREATEST(updated_at + interval '1 microsecond', clock_timestamp())
			WHERE id IN (SELECT id FROM tickets WHERE status = 'open' ORDER BY id LIMIT 10)`, []any{"edited " + label}},
		{`UPDATE tickets SET status = 'solved', updated_at = GREATEST(updated_at + interval '1 microsecond', clock_timestamp())
			WHERE id IN (SELECT id FROM tickets WHERE status = 'open' ORDER BY id DESC LIMIT 3)`, nil},
		{`UPDATE tickets SET status = 'open', subject = $1, updated_at = GREATEST(updated_at + interval '1 microsecond', clock_timestamp())
			WHERE id IN (SELECT id FROM tickets WHERE status = 'pending' ORDER BY id LIMIT 3)`, []any{"reopened " + label}},
		{`DELETE FROM tickets WHERE id IN (SELECT id FROM tickets WHERE status = 'open' ORDER BY id LIMIT 2 OFFSET 20)`, nil},
	} {
		if _, err := w.conn.Exec(ctx, stmt.sql, stmt.args...); err != nil {
			w.t.Fatalf("%s: %v", label, err)
		}
	}
	for range 3 {
		if _, err := w.conn.Exec(ctx, `INSERT INTO tickets (id, team, subject, status, priority, requester, created_at, updated_at)
			VALUES ($1, 'billing', $2, 'open', 'normal', 'someone@example.com', clock_timestamp(), clock_timestamp())`,
			w.nextID, "new "+label); err != nil {
			w.t.Fatalf("%s: %v", label, err)
		}
		w.nextID++
	}
}

// requestID is what nginx makes when the client sends no X-Request-Id.
var requestID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkREST fetches the filter's tickets through nginx as JSON and as
// NDJSON, and checks what the proxy must pass on: the Host, the request
// id, the token.
func checkREST(t *testing.T, p *proxy, token string, want map[int64]dbTicket) {
	get := func(path string, header http.Header) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, p.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		if req.Header == nil {
			req.Header = http.Header{}
		}
		if h := req.Header.Get("Host"); h != "" {
			req.Host = h
		}
		resp, err := p.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	bearer := "Bearer " + token

	resp := get("/v1/tickets?"+filter, http.Header{"Authorization": {bearer}, "X-Request-Id": {"deploy-test-1"}})
	var doc struct {
		Tickets []domain.Ticket `json:"tickets"`
		Count   int             `json:"count"`
	}
	err := json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/tickets through nginx: %d, %v", resp.StatusCode, err)
	}
	if doc.Count != len(want) || len(doc.Tickets) != len(want) {
		t.Fatalf("GET /v1/tickets through nginx: count %d, %d tickets; the database has %d", doc.Count, len(doc.Tickets), len(want))
	}
	if id := resp.Header.Get("X-Request-Id"); id != "deploy-test-1" {
		t.Fatalf("the client's X-Request-Id came back as %q", id)
	}

	resp = get("/v1/tickets?"+filter, http.Header{"Authorization": {bearer}, "Accept": {"application/x-ndjson"}})
	lines := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ticket domain.Ticket
		if err := json.Unmarshal(sc.Bytes(), &ticket); err != nil {
			t.Fatalf("NDJSON line %d through nginx: %v: %.200s", lines+1, err, sc.Bytes())
		}
		if _, ok := want[ticket.ID]; !ok {
			t.Fatalf("NDJSON through nginx holds ticket %d, not in the filter", ticket.ID)
		}
		lines++
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("NDJSON through nginx: %v", err)
	}
	resp.Body.Close()
	if lines != len(want) {
		t.Fatalf("NDJSON through nginx: %d lines, the database has %d", lines, len(want))
	}
	if id := resp.Header.Get("X-Request-Id"); !requestID.MatchString(id) {
		t.Fatalf("without a client X-Request-Id, the response carries %q, not nginx's $request_id", id)
	}
	// nginx drops the trailers of proxied responses (nginx.conf says so);
	// should a version pass them on, they must be right.
	if n := resp.Trailer.Get("Ticketstream-Count"); n != "" && n != fmt.Sprint(len(want)) {
		t.Fatalf("NDJSON through nginx: trailer Ticketstream-Count %s, %d lines", n, lines)
	}
	t.Logf("NDJSON through nginx: %d complete lines, protocol %s, trailers %v", lines, resp.Proto, resp.Trailer)

	for _, c := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"a host ticketstream does not serve", http.Header{"Authorization": {bearer}, "Host": {"other.test"}}, http.StatusMisdirectedRequest},
	} {
		resp := get("/v1/tickets?"+filter, c.header)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d through nginx, want %d", c.name, resp.StatusCode, c.want)
		}
	}

	req, err := http.NewRequest(http.MethodGet, "http://"+p.plain+"/v1/tickets?"+filter, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = publicHost
	resp, err = p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != "https://"+publicHost+"/v1/tickets?"+filter {
		t.Errorf("plain HTTP: %d to %q, want a redirect to HTTPS", resp.StatusCode, loc)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
