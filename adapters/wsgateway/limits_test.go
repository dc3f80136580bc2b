package wsgateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// dialRaw opens a socket with token, returning the refusal's response
// instead of failing when the upgrade is refused.
func dialRaw(ctx context.Context, url, token string) (*websocket.Conn, *http.Response, error) {
	return websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}, Subprotocols: []string{wsgateway.Subprotocol},
	})
}

// expectLimited fails t unless resp is a 429 with Retry-After whose JSON
// error names setting.
func expectLimited(t *testing.T, resp *http.Response, err error, setting string) {
	t.Helper()
	if err == nil || resp == nil {
		t.Fatalf("upgrade beyond %s succeeded (%v)", setting, err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Param, Message string } `json:"error"`
	}
	if resp.StatusCode != http.StatusTooManyRequests || json.NewDecoder(resp.Body).Decode(&body) != nil ||
		body.Error.Param != setting || body.Error.Code != "too_many_connections" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("upgrade beyond %s: status %d, Retry-After %q, error %+v; want 429 naming it", setting, resp.StatusCode, resp.Header.Get("Retry-After"), body.Error)
	}
}

func TestLimits_PerTokenAndPerAddress(t *testing.T) {
	tests := []struct {
		name    string
		opts    wsgateway.Options
		tokens  []string // the sockets opened up to the limit
		over    string   // the token of the one refused
		setting string
	}{
		{"per token", wsgateway.Options{MaxConnectionsPerToken: 2, MaxConnectionsPerAddress: 100}, []string{"admin", "admin", "billing"}, "admin", "max-connections-per-token"},
		// Every test client dials from 127.0.0.1: the address is the TCP
		// peer's, whatever tokens the sockets carry.
		{"per address", wsgateway.Options{MaxConnectionsPerToken: 100, MaxConnectionsPerAddress: 3}, []string{"admin", "billing", "admin"}, "billing", "max-connections-per-address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, demodata.New(6).Tickets(5), tc.opts)
			var open []*websocket.Conn
			for _, tok := range tc.tokens {
				c := dial(t, f.url(""), tok)
				readSnapshot(t, c, 1)
				open = append(open, c)
			}
			_, resp, err := dialRaw(context.Background(), f.url(""), tc.over)
			expectLimited(t, resp, err, tc.setting)
			// A forwarded-for header is the client's own claim: it changes nothing.
			h := http.Header{"Authorization": {"Bearer " + tc.over}, "X-Forwarded-For": {"203.0.113.7"}, "X-Real-Ip": {"203.0.113.7"}}
			_, resp, err = websocket.Dial(context.Background(), f.url(""), &websocket.DialOptions{HTTPHeader: h})
			expectLimited(t, resp, err, tc.setting)

			// Closing one of the counted sockets makes room for one more.
			var closing *websocket.Conn
			for i, tok := range tc.tokens {
				if tok == tc.over || tc.setting == "max-connections-per-address" {
					closing = open[i]
					break
				}
			}
			closing.Close(websocket.StatusNormalClosure, "")
			want := len(tc.tokens) - 1
			portstest.WaitFor(t, 10*time.Second, "the closed socket to be released", func() bool { return f.gw.OpenConnections() == want })
			c := dial(t, f.url(""), tc.over)
			readSnapshot(t, c, 1)
		})
	}
}

// TestLimits_ParallelUpgradesDoNotOvershoot dials many sockets of one token
// at once: exactly the limit is accepted, the rest get 429.
func TestLimits_ParallelUpgradesDoNotOvershoot(t *testing.T) {
	const limit, dials = 5, 40
	f := newFixture(t, demodata.New(6).Tickets(5), wsgateway.Options{MaxConnectionsPerToken: limit})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var accepted, limited atomic.Int64
	var mu sync.Mutex
	var conns []*websocket.Conn
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range dials {
		wg.Go(func() {
			<-start
			c, resp, err := dialRaw(ctx, f.url(""), "admin")
			if err != nil {
				if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
					limited.Add(1)
					return
				}
				t.Errorf("dial: %v (%v)", err, resp)
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	if accepted.Load() != limit || limited.Load() != dials-limit {
		t.Fatalf("%d accepted, %d refused with 429 of %d parallel dials; want %d accepted", accepted.Load(), limited.Load(), dials, limit)
	}
	if n := f.gw.OpenConnections(); n != limit {
		t.Fatalf("%d sockets open, want %d", n, limit)
	}
}

// openVerifier checks no token, as a server without a token secret: every
// request sees every team.
type openVerifier struct{}

func (openVerifier) Verify(string) (domain.Scope, error) { return domain.Scope{AllTeams: true}, nil }
func (openVerifier) Open() bool                          { return true }

// TestLimits_OpenAccessHasNoPerTokenLimit: without token checks a token is
// whatever the client writes, so only the per-address limit applies.
func TestLimits_OpenAccessHasNoPerTokenLimit(t *testing.T) {
	f := newFixture(t, demodata.New(6).Tickets(5), wsgateway.Options{})
	cursors, err := domain.NewCursorSealer([]byte(testCursorKey))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := wsgateway.New(f.streamer, f.hub, cursors, openVerifier{}, wsgateway.Options{MaxConnectionsPerToken: 1, MaxConnectionsPerAddress: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { _ = gw.Shutdown(context.Background()); srv.Close() })
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/stream"
	for _, tok := range []string{"", "", "anything"} {
		c := dial(t, url, tok)
		readSnapshot(t, c, 1)
	}
	_, resp, err := dialRaw(context.Background(), url, "")
	expectLimited(t, resp, err, "max-connections-per-address")
}
