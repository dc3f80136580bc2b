package wsgateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/app/apptest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/internal/leaktest"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// TestMain checks that no goroutine outlives the tests. (Every message a
// client receives is checked against the protocol's JSON Schemas by the
// system tests, in the e2e module: the validator is no dependency of
// ticketstream.)
func TestMain(m *testing.M) {
	os.Exit(leaktest.Main(m))
}

// verifier grants what its map says for a token; "" gets all teams.
type verifier map[string]domain.Scope

func (v verifier) Verify(token string) (domain.Scope, error) {
	if token == "expired" {
		return domain.Scope{}, &domain.Error{Code: domain.EUnauthorized, Message: "token expired"}
	}
	if token == "expiring" {
		return domain.Scope{AllTeams: true, Expires: time.Now().Add(300 * time.Millisecond)}, nil
	}
	s, ok := v[token]
	if !ok {
		return domain.Scope{}, &domain.Error{Code: domain.EUnauthorized, Message: "invalid token"}
	}
	return s, nil
}

var tokens = verifier{"admin": {AllTeams: true}, "billing": {Teams: []string{"billing"}}, "sales": {Teams: []string{"sales"}}}

type fixture struct {
	srv      *httptest.Server
	gw       *wsgateway.Gateway
	streamer *app.Streamer
	hub      *app.Hub
	cursors  *domain.CursorSealer
	feed     *portstest.Feed
	tickets  []domain.Ticket
	logs     *portstest.LogBuffer
}

// newFixture serves a gateway over an in-memory database holding tickets,
// with its hub running.
func newFixture(t testing.TB, tickets []domain.Ticket, opts wsgateway.Options) *fixture {
	t.Helper()
	return newFixtureWith(t, tickets, opts, app.HubConfig{})
}

// newFixtureWith is newFixture with the hub's settings; configure, if any,
// is applied to the gateway before it serves.
func newFixtureWith(t testing.TB, tickets []domain.Ticket, opts wsgateway.Options, hubCfg app.HubConfig, configure ...func(*wsgateway.Gateway)) *fixture {
	t.Helper()
	feed := portstest.NewFeed()
	feed.Put(tickets...)
	streamer, err := app.NewStreamer(feed, apptest.Poisoned(app.Config{ChunkThreshold: 4096}))
	if err != nil {
		t.Fatal(err)
	}
	hubCfg = apptest.PoisonedHub(hubCfg)
	if hubCfg.PollInterval == 0 {
		hubCfg.PollInterval = time.Millisecond
	}
	hub, err := app.NewHub(feed, hubCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); _ = hub.Run(hubCtx) }()
	logs := &portstest.LogBuffer{}
	cursors, err := domain.NewCursorSealer([]byte(testCursorKey))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := wsgateway.New(streamer, hub, cursors, tokens, opts, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range configure {
		c(gw)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		_ = gw.Shutdown(context.Background())
		srv.Close()
		stopHub()
		<-hubDone
		if n := streamer.PoolStats().InUse(); n != 0 {
			t.Errorf("%d pooled buffers still in use after the test", n)
		}
		if n := hub.PoolStats().InUse(); n != 0 {
			t.Errorf("%d shared change buffers still in use after the test", n)
		}
	})
	return &fixture{srv: srv, gw: gw, streamer: streamer, hub: hub, cursors: cursors, feed: feed, tickets: tickets, logs: logs}
}

// testCursorKey is the key the fixture's gateway seals cursors with.
const testCursorKey = "the gateway tests' cursor key, 32+ bytes"

func (f *fixture) url(query string) string {
	return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/v1/stream?" + query
}

func dial(t *testing.T, url, token string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}, Subprotocols: []string{wsgateway.Subprotocol},
		CompressionMode: websocket.CompressionNoContextTakeover, // as browsers and wsclient do
	})
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, resp)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

type serverMessage struct {
	Type    string            `json:"type"`
	Sub     int               `json:"sub"`
	Seq     int               `json:"seq"`
	Rows    int               `json:"rows"`
	Cursor  string            `json:"cursor"`
	Tickets []json.RawMessage `json:"tickets"`
}

// readSnapshot reads messages of subscription sub until its end message and
// returns the tickets' raw JSON and the end message.
func readSnapshot(t *testing.T, c *websocket.Conn, sub int) ([]json.RawMessage, serverMessage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rows []json.RawMessage
	seq := 0
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m serverMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("message is not JSON: %v: %.200s", err, data)
		}
		if m.Sub != sub {
			continue // a replaced subscription's leftovers
		}
		switch m.Type {
		case "snapshot":
			if m.Seq != seq || m.Rows != len(m.Tickets) || m.Cursor == "" {
				t.Fatalf("snapshot message seq %d rows %d/%d cursor %q, want seq %d", m.Seq, m.Rows, len(m.Tickets), m.Cursor, seq)
			}
			seq++
			rows = append(rows, m.Tickets...)
		case "end":
			if m.Rows != len(rows) {
				t.Fatalf("end says %d rows, got %d", m.Rows, len(rows))
			}
			return rows, m
		default:
			t.Fatalf("unexpected message %s", data)
		}
	}
}

func expectRows(t *testing.T, got []json.RawMessage, want []domain.Ticket) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tickets, want %d", len(got), len(want))
	}
	for i := range want {
		b, _ := json.Marshal(want[i])
		if !bytes.Equal(got[i], b) {
			t.Fatalf("ticket %d differs:\n got %s\nwant %s", i, got[i], b)
		}
	}
}

func TestGateway_SnapshotEqualsTheRowsOfTheFilter(t *testing.T) {
	tickets := demodata.New(1).Tickets(3000)
	f := newFixture(t, tickets, wsgateway.Options{})
	tests := []struct {
		name, query, token string
		q                  domain.Query
	}{
		{"everything", "", "admin", domain.Query{}},
		{"open billing", "status=open&team=billing", "admin", domain.Query{Statuses: []domain.Status{"open"}, Teams: []string{"billing"}}},
		{"scoped token sees only its team", "status=pending", "billing", domain.Query{Statuses: []domain.Status{"pending"}, Teams: []string{"billing"}}},
		{"no match", "team=nobody", "admin", domain.Query{Teams: []string{"nobody"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, f.url(tc.query), tc.token)
			if c.Subprotocol() != wsgateway.Subprotocol {
				t.Fatalf("subprotocol %q", c.Subprotocol())
			}
			rows, end := readSnapshot(t, c, 1)
			want := portstest.Select(tickets, tc.q)
			expectRows(t, rows, want)
			lc, err := f.cursors.OpenLiveCursor(end.Cursor)
			if err != nil || !lc.SnapshotDone {
				t.Fatalf("end cursor %q: %+v, %v; want a live cursor of a finished snapshot", end.Cursor, lc, err)
			}
			if len(want) > 0 && lc.Snapshot != want[len(want)-1].Cursor() {
				t.Fatalf("end cursor's snapshot position %v is not the last row's", lc.Snapshot)
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
}

func TestGateway_SubscribeReplacesTheFilterAndCursorResumes(t *testing.T) {
	tickets := demodata.New(2).Tickets(2000)
	f := newFixture(t, tickets, wsgateway.Options{})
	c := dial(t, f.url("team=billing"), "admin")
	_, _ = readSnapshot(t, c, 1)
	all := portstest.SortedTickets(tickets)
	mid := f.cursors.CursorString(all[1000].Cursor())
	msg := `{"type":"subscribe","query":"cursor=` + mid + `&limit=300"}`
	if err := c.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	rows, _ := readSnapshot(t, c, 2)
	expectRows(t, rows, all[1001:1301])
	c.Close(websocket.StatusNormalClosure, "")
}

func TestGateway_TokenInSubprotocolOrQuery(t *testing.T) {
	f := newFixture(t, demodata.New(3).Tickets(10), wsgateway.Options{})
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, f.url(""), &websocket.DialOptions{Subprotocols: []string{wsgateway.Subprotocol, wsgateway.BearerPrefix + "admin"}})
	if err != nil {
		t.Fatalf("token as subprotocol: %v", err)
	}
	if c.Subprotocol() != wsgateway.Subprotocol {
		t.Fatalf("server chose subprotocol %q, want %q (never the token)", c.Subprotocol(), wsgateway.Subprotocol)
	}
	readSnapshot(t, c, 1)
	c.Close(websocket.StatusNormalClosure, "")
	c, _, err = websocket.Dial(ctx, f.url("access_token=admin"), nil)
	if err != nil {
		t.Fatalf("token in the query: %v", err)
	}
	readSnapshot(t, c, 1)
	c.Close(websocket.StatusNormalClosure, "")
	if strings.Contains(f.logs.String(), "admin") {
		t.Fatal("a token reached the log")
	}
}

// TestGateway_RefusesSeveralTokens: an upgrade may carry one token, in one
// place. With two — different or the same — a proxy or log reading the
// other would see another client than the one authorized, so the upgrade
// is refused as REST refuses two Authorization headers.
func TestGateway_RefusesSeveralTokens(t *testing.T) {
	f := newFixture(t, demodata.New(3).Tickets(10), wsgateway.Options{})
	sub := func(tokens ...string) []string {
		p := []string{wsgateway.Subprotocol}
		for _, tok := range tokens {
			p = append(p, wsgateway.BearerPrefix+tok)
		}
		return p
	}
	tests := []struct {
		name   string
		query  string
		header string
		protos []string
	}{
		{"two subprotocols", "", "", sub("billing", "admin")},
		{"the same subprotocol twice", "", "", sub("admin", "admin")},
		{"header and subprotocol", "", "Bearer admin", sub("billing")},
		{"header and query", "access_token=billing", "Bearer admin", nil},
		{"subprotocol and query", "access_token=admin", "", sub("billing")},
		{"the query twice", "access_token=billing&access_token=admin", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			c, resp, err := websocket.Dial(context.Background(), f.url(tc.query), &websocket.DialOptions{HTTPHeader: h, Subprotocols: tc.protos})
			if err == nil {
				c.CloseNow()
				t.Fatal("upgrade with several tokens accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("response %v, want 401", resp)
			}
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code != "unauthorized" || !strings.Contains(body.Error.Message, "one token") {
				t.Fatalf("body %+v (%v), want an unauthorized error naming one token", body, err)
			}
		})
	}
}

func TestGateway_RefusalsBeforeTheUpgrade(t *testing.T) {
	f := newFixture(t, demodata.New(4).Tickets(10), wsgateway.Options{AllowedOrigins: []string{"dash.example.com", "*.example.org"}})
	tests := []struct {
		name, query, token, origin string
		status                     int
		code                       string
	}{
		{"no token", "", "", "", 401, "unauthorized"},
		{"bad token", "", "forged", "", 401, "unauthorized"},
		{"expired token", "", "expired", "", 401, "unauthorized"},
		{"wrong team", "team=support", "billing", "", 403, "forbidden"},
		{"bad filter", "status=opne", "admin", "", 400, "invalid"},
		{"unknown parameter", "stauts=open", "admin", "", 400, "invalid"},
		{"foreign origin", "", "admin", "https://evil.example.net", 403, "forbidden"},
		{"glued to an allowed suffix", "", "admin", "https://evilexample.org", 403, "forbidden"},
		{"bare domain of a *.suffix", "", "admin", "https://example.org", 403, "forbidden"},
		// A glob as "*example.net" is refused by Options.Validate; without it
		// such an origin is foreign.
		{"glob pattern matches nothing", "", "admin", "https://evilexample.net", 403, "forbidden"},
		{"allowed name on a longer domain", "", "admin", "https://dash.example.com.attacker.test", 403, "forbidden"},
		{"unparsable origin", "", "admin", "https://[::1", 403, "forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.token != "" {
				h.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			_, resp, err := websocket.Dial(context.Background(), f.url(tc.query), &websocket.DialOptions{HTTPHeader: h})
			if err == nil || resp == nil {
				t.Fatalf("upgrade succeeded, want %d", tc.status)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct{ Code, Param, Message string } `json:"error"`
			}
			if resp.StatusCode != tc.status || json.NewDecoder(resp.Body).Decode(&body) != nil || body.Error.Code != tc.code {
				t.Fatalf("status %d, error %+v; want %d %s", resp.StatusCode, body.Error, tc.status, tc.code)
			}
		})
	}
	for _, origin := range []string{"https://dash.example.com", "https://a.example.org", "http://a.b.example.org:8080"} {
		h := http.Header{"Authorization": {"Bearer admin"}, "Origin": {origin}}
		c, _, err := websocket.Dial(context.Background(), f.url(""), &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatalf("allowed origin %s was refused: %v", origin, err)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
}

func TestGateway_ClosesOnBadClientMessages(t *testing.T) {
	f := newFixture(t, demodata.New(5).Tickets(10), wsgateway.Options{MaxMessageBytes: 512})
	tests := []struct {
		name string
		msg  string
		code websocket.StatusCode
	}{
		{"oversized message", `{"type":"subscribe","query":"` + strings.Repeat("a", 600) + `"}`, websocket.StatusMessageTooBig},
		{"not JSON", "hello", websocket.StatusPolicyViolation},
		{"bad filter", `{"type":"subscribe","query":"priority=p0"}`, websocket.StatusPolicyViolation},
		{"unknown type", `{"type":"unsubscribe"}`, websocket.StatusPolicyViolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, f.url(""), "billing")
			readSnapshot(t, c, 1)
			_ = c.Write(context.Background(), websocket.MessageText, []byte(tc.msg))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for {
				if _, _, err := c.Read(ctx); err != nil {
					if got := websocket.CloseStatus(err); got != tc.code {
						t.Fatalf("closed with %v (%v), want %v", got, err, tc.code)
					}
					return
				}
			}
		})
	}
	c := dial(t, f.url(""), "billing")
	readSnapshot(t, c, 1)
	_ = c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"subscribe","query":"team=support"}`))
	_, _, err := c.Read(context.Background())
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "team") {
		t.Fatalf("subscribing to a forbidden team: %v, want 1008 naming the team", err)
	}
}

func TestGateway_ClosesWhenTheTokenExpires(t *testing.T) {
	f := newFixture(t, demodata.New(5).Tickets(10), wsgateway.Options{})
	c := dial(t, f.url(""), "expiring")
	readSnapshot(t, c, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "token expired" {
			t.Fatalf("socket of an expiring token: %v, want 1008 \"token expired\"", err)
		}
		return
	}
}

func TestGateway_ConnectionLimit(t *testing.T) {
	f := newFixture(t, demodata.New(6).Tickets(5), wsgateway.Options{MaxConnections: 2})
	a, b := dial(t, f.url(""), "admin"), dial(t, f.url(""), "admin")
	_, resp, err := websocket.Dial(context.Background(), f.url(""), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer admin"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a third connection over a limit of 2: %v, %v; want 503", err, resp)
	}
	resp.Body.Close()
	a.Close(websocket.StatusNormalClosure, "")
	b.Close(websocket.StatusNormalClosure, "")
	portstest.WaitFor(t, 10*time.Second, "every socket to close", func() bool { return f.gw.OpenConnections() == 0 })
	c := dial(t, f.url(""), "admin")
	c.Close(websocket.StatusNormalClosure, "")
}

// TestGateway_ClientThatStopsReading is closed and its buffers go back to
// the pool: a 20,000-row snapshot fills the socket buffers of a client that
// never reads. The client does not offer compression: compressed, the
// snapshot would fit in the loopback connection's buffers.
func TestGateway_ClientThatStopsReading(t *testing.T) {
	f := newFixture(t, demodata.New(7).Tickets(20_000), wsgateway.Options{WriteTimeout: 200 * time.Millisecond, QueueChunks: 2})
	c, _, err := websocket.Dial(context.Background(), f.url(""), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer admin"}}, Subprotocols: []string{wsgateway.Subprotocol},
	})
	if err != nil {
		t.Fatal(err)
	}
	portstest.WaitFor(t, 10*time.Second, "every socket to close", func() bool { return f.gw.OpenConnections() == 0 })
	portstest.WaitFor(t, 10*time.Second, "every buffer to go back to the pool", func() bool { return f.streamer.PoolStats().InUse() == 0 })
	if !strings.Contains(f.logs.String(), `"close_code":1013`) {
		t.Fatalf("the server did not close the slow client with 1013:\n%s", f.logs.String())
	}
	c.CloseNow()
}

func TestGateway_ShutdownClosesSocketsWith1001(t *testing.T) {
	f := newFixture(t, demodata.New(8).Tickets(50), wsgateway.Options{})
	var conns []*websocket.Conn
	for range 3 {
		c := dial(t, f.url(""), "admin")
		readSnapshot(t, c, 1)
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	codes := make([]websocket.StatusCode, len(conns))
	for i, c := range conns {
		wg.Go(func() {
			_, _, err := c.Read(context.Background())
			codes[i] = websocket.CloseStatus(err)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.gw.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	for i, code := range codes {
		if code != websocket.StatusGoingAway {
			t.Fatalf("socket %d closed with %v, want 1001", i, code)
		}
	}
	_, resp, err := websocket.Dial(context.Background(), f.url(""), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer admin"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("an upgrade during shutdown: %v, want 503", err)
	}
	resp.Body.Close()
}
