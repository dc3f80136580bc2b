package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

type page struct {
	Tickets    []domain.Ticket `json:"tickets"`
	Count      int             `json:"count"`
	NextCursor *string         `json:"next_cursor"`
	Error      *struct{ Code, Message string }
}

func sameTickets(t *testing.T, got, want []domain.Ticket) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tickets, want %d", len(got), len(want))
	}
	for i := range want {
		if d := portstest.DiffTicket(got[i], want[i]); d != "" {
			t.Fatalf("ticket %d: %s", i, d)
		}
	}
}

var dialects = []gormstore.Dialect{gormstore.SQLite, gormstore.Postgres}

func TestServer_RESTAndWebSocketServeTheRowsOfTheFilter(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			r := StartServer(t, d, nil)
			q := domain.Query{Statuses: []domain.Status{"open", "pending"}, Teams: []string{"billing", "support"}}
			want := portstest.Select(DemoTickets, q)
			raw := "status=open,pending&team=billing,support"

			// REST, one JSON document.
			resp, body := Get(t, r.Base+"/v1/tickets?"+raw, "")
			var p page
			if resp.StatusCode != 200 || json.Unmarshal(body, &p) != nil {
				t.Fatalf("REST: %d %.300s", resp.StatusCode, body)
			}
			sameTickets(t, p.Tickets, want)
			if p.Count != len(want) || p.NextCursor != nil {
				t.Fatalf("count %d next %v, want %d and no next page", p.Count, p.NextCursor, len(want))
			}

			// REST, NDJSON with trailers.
			resp, body = Get(t, r.Base+"/v1/tickets?"+raw, "", "Accept", "application/x-ndjson")
			var lines []domain.Ticket
			for line := range strings.Lines(string(body)) {
				var tk domain.Ticket
				if err := json.Unmarshal([]byte(line), &tk); err != nil {
					t.Fatalf("NDJSON line: %v: %q", err, line)
				}
				lines = append(lines, tk)
			}
			sameTickets(t, lines, want)
			if resp.Trailer.Get("Ticketstream-Count") != fmt.Sprint(len(want)) {
				t.Fatalf("NDJSON count trailer %q", resp.Trailer.Get("Ticketstream-Count"))
			}

			// WebSocket: the snapshot holds the tickets changed before the
			// subscription's watermark; on a PostgreSQL server busy with
			// other databases' transactions, the demo tickets written just
			// before may still be above it and arrive as changes right after.
			// Either way the view must come to hold exactly the filter's rows.
			view := &wsclient.View{}
			wc, err := wsclient.Dial(context.Background(), "ws"+strings.TrimPrefix(r.Base, "http"), raw, "", view)
			if err != nil {
				t.Fatal(err)
			}
			defer wc.Conn.CloseNow()
			if err := wc.WaitFor(context.Background(), Patience(t), func(v *wsclient.View) bool {
				return v.SnapshotDone && len(v.Tickets) == len(want)
			}); err != nil {
				t.Fatalf("the view holds %d tickets, want %d: %v", len(view.Tickets), len(want), err)
			}
			var got []domain.Ticket
			for _, tk := range view.Tickets {
				got = append(got, tk)
			}
			got = portstest.SortedTickets(got)
			if err := view.CheckTotals(); err != nil {
				t.Fatal(err)
			}
			c := wc.Conn
			sameTickets(t, got, want)
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
}

func TestServer_PagingWithLimitAndCursorCoversEveryRowOnce(t *testing.T) {
	r := StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) { c.Server.REST.MaxRows = 1000 })
	var all []domain.Ticket
	cursor := ""
	for pages := 0; ; pages++ {
		resp, body := Get(t, r.Base+"/v1/tickets?limit=700&cursor="+cursor, "")
		var p page
		if resp.StatusCode != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("page %d: %d %.200s", pages, resp.StatusCode, body)
		}
		all = append(all, p.Tickets...)
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	sameTickets(t, all, portstest.SortedTickets(DemoTickets))
	resp, body := Get(t, r.Base+"/v1/tickets?limit=1001", "")
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"param":"limit"`) {
		t.Fatalf("a limit over --max-rows: %d %s", resp.StatusCode, body)
	}
	resp, body = Get(t, r.Base+"/v1/tickets", "")
	var p page
	if resp.StatusCode != 200 || json.Unmarshal(body, &p) != nil || p.Count != 1000 || p.NextCursor == nil {
		t.Fatalf("no limit: %d %d rows, next %v; want 200, the --max-rows cap and a next cursor", resp.StatusCode, p.Count, p.NextCursor)
	}
}

func TestServer_SingleTicketAndHealth(t *testing.T) {
	r := StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) { c.Server.JWTSecret = Secret })
	billing, _ := jwtauth.Issue([]byte(Secret), "t", []string{"billing"}, time.Hour)
	var billingID, supportID int64
	for _, tk := range DemoTickets {
		if tk.Team == "billing" && billingID == 0 {
			billingID = tk.ID
		}
		if tk.Team == "support" && supportID == 0 {
			supportID = tk.ID
		}
	}
	tests := []struct {
		path   string
		status int
	}{
		{fmt.Sprintf("/v1/tickets/%d", billingID), 200},
		{fmt.Sprintf("/v1/tickets/%d", supportID), 404}, // outside the token's teams: not revealed
		{"/v1/tickets/999999", 404},
		{"/v1/tickets/abc", 400},
		{"/v1/tickets/-5", 400},
		{"/healthz", 200},
		{"/readyz", 200},
		{"/v1/nothing", 404},
	}
	for _, tc := range tests {
		resp, body := Get(t, r.Base+tc.path, billing)
		if resp.StatusCode != tc.status || !json.Valid(body) {
			t.Fatalf("GET %s = %d %s, want %d with a JSON body", tc.path, resp.StatusCode, body, tc.status)
		}
	}
	_, body := Get(t, r.Base+fmt.Sprintf("/v1/tickets/%d", billingID), billing)
	want, _ := json.Marshal(DemoTickets[billingID-1])
	if strings.TrimSpace(string(body)) != string(want) {
		t.Fatalf("ticket body %s, want %s", body, want)
	}
}

func TestServer_RefusalsWithAuthOn(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			r := StartServer(t, d, func(c *ticketstream.Config) {
				c.Server.JWTSecret = Secret
				c.Server.WebSocket.AllowedOrigins = []string{"dash.example.com"}
				c.Server.WebSocket.MaxMessageBytes = 256
			})
			billing, _ := jwtauth.Issue([]byte(Secret), "t", []string{"billing"}, time.Hour)
			expired := signExpired(t)
			forged, _ := jwtauth.Issue([]byte("another-secret-another-secret-123"), "t", []string{"*"}, time.Hour)
			rest := []struct {
				name, query, token string
				status             int
			}{
				{"no token", "", "", 401},
				{"forged token", "", forged, 401},
				{"expired token", "", expired, 401},
				{"wrong team", "team=support", billing, 403},
				{"bad filter", "priority=p0", billing, 400},
				{"sql in a filter", "team=billing'%3B%20DROP%20TABLE%20tickets%3B--", billing, 403},
			}
			for _, tc := range rest {
				resp, body := Get(t, r.Base+"/v1/tickets?"+tc.query, tc.token)
				if resp.StatusCode != tc.status || !json.Valid(body) {
					t.Fatalf("REST %s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
				}
			}
			resp, body := Get(t, r.Base+"/v1/tickets?limit=5", billing)
			var p page
			if resp.StatusCode != 200 || json.Unmarshal(body, &p) != nil || len(p.Tickets) != 5 {
				t.Fatalf("a valid token: %d %s", resp.StatusCode, body)
			}
			for _, tk := range p.Tickets {
				if tk.Team != "billing" {
					t.Fatalf("a billing token got a %s ticket", tk.Team)
				}
			}

			wsURL := "ws" + strings.TrimPrefix(r.Base, "http") + "/v1/stream?"
			wsTests := []struct {
				name, query, token, origin string
				status                     int
			}{
				{"no token", "", "", "", 401},
				{"expired token", "", expired, "", 401},
				{"wrong team", "team=support", billing, "", 403},
				{"bad filter", "status=opne", billing, "", 400},
				{"foreign origin", "", billing, "https://evil.example.net", 403},
			}
			for _, tc := range wsTests {
				h := http.Header{}
				if tc.token != "" {
					h.Set("Authorization", "Bearer "+tc.token)
				}
				if tc.origin != "" {
					h.Set("Origin", tc.origin)
				}
				_, resp, err := websocket.Dial(context.Background(), wsURL+tc.query, &websocket.DialOptions{HTTPHeader: h})
				if err == nil || resp == nil || resp.StatusCode != tc.status {
					t.Fatalf("WebSocket %s: %v %v, want %d", tc.name, err, resp, tc.status)
				}
				resp.Body.Close()
			}
			c, _, err := websocket.Dial(context.Background(), wsURL, &websocket.DialOptions{
				Subprotocols: []string{wsgateway.Subprotocol, wsgateway.BearerPrefix + billing},
				HTTPHeader:   http.Header{"Origin": {"https://dash.example.com"}},
			})
			if err != nil {
				t.Fatalf("a browser-style connection with the token as subprotocol: %v", err)
			}
			defer c.CloseNow()
			c.SetReadLimit(1 << 20)
			_ = c.Write(context.Background(), websocket.MessageText, []byte(strings.Repeat("x", 300)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for {
				if _, _, err := c.Read(ctx); err != nil {
					if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
						t.Fatalf("an oversized message closed the socket with %v, want 1009", err)
					}
					break
				}
			}
		})
	}
}

func signExpired(t *testing.T) string { return tokenExpiredLongAgo(t) }

// TestServer_ClientLeavingMidStreamStopsTheQuery starts a large REST stream,
// reads a little, hangs up, and checks that the server's stream (and with it
// the database query) ends at once rather than reading the whole table.
func TestServer_ClientLeavingMidStreamStopsTheQuery(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			r := StartServer(t, d, func(c *ticketstream.Config) {
				c.Server.DemoTickets = 20_000
				c.Stream.BatchSize = 100
			})
			conn, err := net.Dial("tcp", strings.TrimPrefix(r.Base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "GET /v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
			br := bufio.NewReader(conn)
			if _, err := io.ReadFull(br, make([]byte, 64<<10)); err != nil {
				t.Fatal(err)
			}
			if r.Server.REST.ActiveStreams() != 1 {
				t.Fatalf("%d streams running, want 1", r.Server.REST.ActiveStreams())
			}
			conn.Close()
			deadline := time.Now().Add(5 * time.Second)
			for r.Server.REST.ActiveStreams() != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the stream kept running after the client left")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestServer_GracefulShutdown(t *testing.T) {
	r := StartServer(t, gormstore.SQLite, nil)
	var conns []*websocket.Conn
	for range 3 {
		c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(r.Base, "http")+"/v1/stream?limit=10", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		conns = append(conns, c)
	}
	codes := make(chan websocket.StatusCode, len(conns))
	for _, c := range conns {
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					codes <- websocket.CloseStatus(err)
					return
				}
			}
		}()
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Run returned %v after the signal, want nil", err)
	}
	for range conns {
		if code := <-codes; code != websocket.StatusGoingAway {
			t.Fatalf("a socket closed with %v on shutdown, want 1001", code)
		}
	}
	if _, err := http.Get(r.Base + "/healthz"); err == nil {
		t.Fatal("the server still answers after shutdown")
	}
}

// tokenExpiredLongAgo signs a token that expired an hour ago, beyond the
// verifier's clock-skew leeway.
func tokenExpiredLongAgo(t *testing.T) string {
	t.Helper()
	claims := jwtauth.Claims{Teams: []string{"*"}}
	claims.Audience = []string{jwtauth.DefaultAudience}
	claims.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	return SignClaims(t, claims)
}

// TestServer_WriteTimeoutDoesNotCutAHealthyLongStream reads a stream slowly
// but steadily, so that it lasts many times the write timeout: the deadline
// is per chunk, not per response, and a healthy reader is never cut.
func TestServer_WriteTimeoutDoesNotCutAHealthyLongStream(t *testing.T) {
	const timeout = 300 * time.Millisecond
	r := StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) {
		c.Server.DemoTickets = 20_000
		c.Server.REST.WriteTimeout = timeout
	})
	resp, err := http.Get(r.Base + "/v1/tickets?limit=20000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	var body []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the stream was cut after %v and %d bytes: %v", time.Since(start), len(body), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	var p page
	if err := json.Unmarshal(body, &p); err != nil || p.Count != 20_000 || p.Error != nil {
		t.Fatalf("%d tickets, error %+v, %v", p.Count, p.Error, err)
	}
	if took < 2*timeout {
		t.Fatalf("the stream took %v, not longer than the write timeout %v: the test proves nothing", took, timeout)
	}
	t.Logf("a %v stream under a %v per-chunk write timeout", took.Round(time.Millisecond), timeout)
}

// TestServer_ShutdownGivesRESTStreamsADeadline stops the server while a
// client reads a long REST stream slowly: the stream gets the shutdown
// timeout, is then cut, and Run still returns cleanly.
func TestServer_ShutdownGivesRESTStreamsADeadline(t *testing.T) {
	r := StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) {
		c.Server.DemoTickets = 20_000
		c.Server.ShutdownTimeout = 300 * time.Millisecond
	})
	resp, err := http.Get(r.Base + "/v1/tickets?limit=20000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.Stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("shutdown took %v with a 300ms timeout", took)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("the slow stream was not cut at the shutdown deadline")
	}
}

// TestServer_SocketLeavingMidSnapshotStopsTheStream: a dashboard that hangs
// up during a large snapshot ends its stream and database reads at once and
// leaves no buffer behind.
func TestServer_SocketLeavingMidSnapshotStopsTheStream(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			r := StartServer(t, d, func(c *ticketstream.Config) {
				c.Server.DemoTickets = 20_000
				c.Stream.BatchSize = 100
			})
			c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(r.Base, "http")+"/v1/stream", nil)
			if err != nil {
				t.Fatal(err)
			}
			c.SetReadLimit(1 << 20)
			if _, _, err := c.Read(context.Background()); err != nil {
				t.Fatal(err)
			}
			c.CloseNow()
			deadline := time.Now().Add(5 * time.Second)
			for r.Server.Gateway.OpenConnections() != 0 || r.Server.App.Streamer.PoolStats().InUse() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("after the client left: %d sockets open, %d buffers in use",
						r.Server.Gateway.OpenConnections(), r.Server.App.Streamer.PoolStats().InUse())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestServer_SessionTellsAPageWhatItsTokenGrants(t *testing.T) {
	open := StartServer(t, gormstore.SQLite, nil)
	locked := StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) { c.Server.JWTSecret = Secret })
	billing, _ := jwtauth.Issue([]byte(Secret), "t", []string{"billing", "accounts"}, time.Hour)
	admin, _ := jwtauth.Issue([]byte(Secret), "t", []string{"*"}, time.Hour)
	tests := []struct {
		name, base, token string
		status            int
		want              string // teams, or the error's message
		expires           bool
	}{
		{"auth off", open.Base, "", 200, "*", false},
		{"no token", locked.Base, "", 401, "missing bearer token", false},
		{"expired token", locked.Base, tokenExpiredLongAgo(t), 401, "token expired", false},
		{"forged token", locked.Base, "x.y.z", 401, "malformed", false},
		{"some teams", locked.Base, billing, 200, "billing,accounts", true},
		{"every team", locked.Base, admin, 200, "*", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := Get(t, tc.base+"/v1/session", tc.token)
			var got struct {
				Teams     []string   `json:"teams"`
				ExpiresAt *time.Time `json:"expires_at"`
				Error     *struct{ Code, Message string }
			}
			if resp.StatusCode != tc.status || json.Unmarshal(body, &got) != nil {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status != 200 {
				if got.Error == nil || got.Error.Code != "unauthorized" || !strings.Contains(got.Error.Message, tc.want) {
					t.Fatalf("error %s, want unauthorized mentioning %q", body, tc.want)
				}
				return
			}
			if strings.Join(got.Teams, ",") != tc.want || (got.ExpiresAt != nil) != tc.expires {
				t.Fatalf("session %s, want teams %s, expiry %v", body, tc.want, tc.expires)
			}
			if tc.expires && time.Until(*got.ExpiresAt) < 59*time.Minute {
				t.Fatalf("expires_at %v, want the token's hour", got.ExpiresAt)
			}
		})
	}
}

// One line per request and per connection, with its id, filter, rows,
// bytes, duration and (for a socket) close reason — and never a token.
func TestServer_LogsOneLinePerRequestAndConnectionWithoutSecrets(t *testing.T) {
	logs := &portstest.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	srv := StartServerLogging(t, gormstore.SQLite, func(c *ticketstream.Config) { c.Server.JWTSecret = Secret }, log)
	token, _ := jwtauth.Issue([]byte(Secret), "t", []string{"billing"}, time.Hour)

	req, _ := http.NewRequest("GET", srv.Base+"/v1/tickets?status=open&limit=5", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Request-Id", "lb-7f3a.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got != "lb-7f3a.1" {
		t.Fatalf("X-Request-Id %q, want the client's", got)
	}
	resp, _ = Get(t, srv.Base+"/v1/tickets/1", token, "X-Request-Id", "bad id; with spaces and a {brace}")
	if got := resp.Header.Get("X-Request-Id"); len(got) != 16 {
		t.Fatalf("a malformed X-Request-Id came back as %q, want a fresh one", got)
	}

	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.Base, "http")+"/v1/stream?team=billing&access_token="+token,
		&websocket.DialOptions{Subprotocols: []string{wsclient.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(msg), `"type":"end"`) {
			break
		}
	}
	c.Close(websocket.StatusNormalClosure, "bye")
	portstest.Await(t, "the connection's log line", func() bool { return strings.Contains(logs.String(), "websocket closed") })

	var request, closed map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		switch {
		case m["msg"] == "request" && m["id"] == "lb-7f3a.1":
			request = m
		case m["msg"] == "websocket closed":
			closed = m
		}
	}
	if request == nil || request["filter"] != "limit=5&status=open&team=billing" || request["rows"] != float64(5) ||
		request["bytes"].(float64) <= 0 || request["dur"] == "" || request["status"] != float64(200) {
		t.Fatalf("request line %v", request)
	}
	if closed == nil || closed["conn"] == nil || !strings.Contains(closed["filter"].(string), "team=billing") || closed["rows"].(float64) <= 0 ||
		closed["bytes"].(float64) <= 0 || closed["close_code"] != float64(1000) || closed["close_reason"] == nil || closed["dur"] == "" {
		t.Fatalf("connection line %v", closed)
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), "access_token") {
		t.Fatal("the log holds the token")
	}
	if strings.Contains(logs.String(), `"subject"`) {
		t.Fatal("the log holds ticket bodies")
	}
}
