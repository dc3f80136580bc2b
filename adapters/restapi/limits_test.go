package restapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// tokenAuth checks tokens: any non-empty token is a client of its own.
type tokenAuth struct{}

func (tokenAuth) Verify(token string) (domain.Scope, error) {
	if token == "" {
		return domain.Scope{}, &domain.Error{Code: domain.EUnauthorized, Message: "missing bearer token"}
	}
	return domain.Scope{AllTeams: true}, nil
}

// readyStore reads tickets.
type readyStore struct{ noStore }

func (readyStore) Ready(context.Context) error { return nil }

// stuckFeed last answered long ago.
type stuckFeed struct{ last time.Time }

func (f stuckFeed) LastRead() time.Time { return f.last }

// blockingSource holds every stream open until its request ends.
func blockingSource(started *atomic.Int64) *portstest.Source {
	return &portstest.Source{StreamTicketsFn: func(ctx context.Context, _ domain.Query, _ int, _ ports.BatchHandler) error {
		started.Add(1)
		<-ctx.Done()
		return ctx.Err()
	}}
}

func startLimited(t *testing.T, cfg restapi.Config, started *atomic.Int64) *httptest.Server {
	t.Helper()
	streamer, err := app.NewStreamer(blockingSource(started), app.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := restapi.New(cfg, streamer, readyStore{}, testCursors, tokenAuth{}, restapi.Mounts{Stream: http.NotFoundHandler()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// TestListTickets_LimitsConcurrentStreams: past the per-token or the
// per-address limit a stream gets 429 with Retry-After and a JSON body
// naming the limit's setting; a forged X-Forwarded-For changes nothing.
func TestListTickets_LimitsConcurrentStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     restapi.Config
		tokens  []string // the holding streams' tokens, then the refused one's
		setting string
	}{
		{"per token", restapi.Config{MaxStreamsPerToken: 2, MaxStreamsPerAddress: 100}, []string{"a", "a", "a"}, "max-streams-per-token"},
		{"per address", restapi.Config{MaxStreamsPerToken: 100, MaxStreamsPerAddress: 2}, []string{"a", "b", "c"}, "max-streams-per-address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var started atomic.Int64
			srv := startLimited(t, tc.cfg, &started)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			get := func(ctx context.Context, token, forwarded string) (*http.Response, error) {
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/tickets", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("X-Forwarded-For", forwarded)
				return http.DefaultClient.Do(req)
			}
			holding := tc.tokens[:len(tc.tokens)-1]
			for i, tok := range holding {
				go func() {
					if resp, err := get(ctx, tok, "198.51.100."+string(rune('1'+i))); err == nil {
						resp.Body.Close()
					}
				}()
			}
			waitFor(t, func() bool { return started.Load() == int64(len(holding)) })
			resp, err := get(context.Background(), tc.tokens[len(tc.tokens)-1], "203.0.113.9")
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Error struct{ Code, Param, Message string }
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || err != nil ||
				body.Error.Code != "too_many_streams" || body.Error.Param != tc.setting || !strings.Contains(body.Error.Message, "at most 2") {
				t.Fatalf("the stream past the limit: %d, Retry-After %q, %+v (%v)", resp.StatusCode, resp.Header.Get("Retry-After"), body, err)
			}
			cancel()
			// The places come back when the streams end: a new stream is
			// admitted (and held, until its client gives up).
			waitFor(t, func() bool {
				before := started.Load()
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if resp, err := get(ctx, tc.tokens[len(tc.tokens)-1], ""); err == nil {
					resp.Body.Close()
				}
				return started.Load() > before
			})
		})
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReadyz_ReportsAStuckChangeFeed: a feed that has not answered for
// longer than FeedStaleAfter makes the replica unready, saying why.
func TestReadyz_ReportsAStuckChangeFeed(t *testing.T) {
	t.Parallel()
	streamer, err := app.NewStreamer(&portstest.Source{}, app.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		last   time.Time
		status int
	}{{time.Now(), 200}, {time.Now().Add(-time.Minute), 503}, {time.Time{}, 200}} {
		s, err := restapi.New(restapi.Config{FeedStaleAfter: 10 * time.Second}, streamer, readyStore{}, testCursors, tokenAuth{}, restapi.Mounts{Stream: http.NotFoundHandler()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.SetFeedHealth(stuckFeed{tc.last})
		srv := httptest.NewServer(s.Handler())
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.status || (tc.status == 503 && !strings.Contains(string(body), "change feed")) {
			t.Fatalf("feed last read %v: %d %s, want %d", tc.last, resp.StatusCode, body, tc.status)
		}
	}
	if _, err := restapi.New(restapi.Config{MaxStreamsPerToken: -1}, streamer, readyStore{}, testCursors, tokenAuth{}, restapi.Mounts{}, nil); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("a negative limit: %v", err)
	}
}
