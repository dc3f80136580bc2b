package wsclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/domain"
)

// fakeServer is a dashboard socket that records each upgrade's query and
// whether held messages followed, refuses held= with 400 when old, and
// otherwise closes each socket with the next of its close reasons.
type fakeServer struct {
	old    bool
	closes []string // "": hold the socket open

	mu       sync.Mutex
	queries  []string
	heldSeen []bool
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.RawQuery)
	n := len(f.queries)
	f.mu.Unlock()
	if f.old && r.URL.Query().Has("held") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":{"code":"invalid","param":"held","message":"unknown parameter"}}`))
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	seen := false
	if r.URL.Query().Has("held") {
		_, data, err := c.Read(ctx)
		seen = err == nil && strings.Contains(string(data), `"type":"held"`)
	}
	f.mu.Lock()
	f.heldSeen = append(f.heldSeen, seen)
	f.mu.Unlock()
	reason := ""
	if n-1 < len(f.closes) {
		reason = f.closes[n-1]
	}
	if reason == "" {
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"counts","sub":1,"cursor":"c2"}`))
		c.Read(ctx) // until the client closes
		return
	}
	c.Close(websocket.StatusTryAgainLater, reason)
}

func resumingView() *View {
	return &View{Cursor: "c1", Tickets: map[int64]domain.Ticket{
		7: {ID: 7, Team: "billing", Status: domain.StatusOpen},
		9: {ID: 9, Team: "sales", Status: domain.StatusNew},
	}}
}

// Like client.js, the Go client resumes once without claiming after the
// server refused its held tickets or an older server refused held=, and
// claims again after that; a close of another reason changes nothing.
func TestDial_FallsBackToAReadBackResumeOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		srv  *fakeServer
		// dials is how many Dials the case makes; wantHeld, per upgrade
		// the server saw, whether it announced held= and sent held
		// messages.
		dials    int
		wantHeld []bool
	}{
		{"a held close: the next resume reads back, the one after claims", &fakeServer{closes: []string{"held: the held tickets did not all come within 30s", "", ""}}, 3, []bool{true, false, true}},
		{"a close of another reason: the next resume claims", &fakeServer{closes: []string{"server shutting down", ""}}, 2, []bool{true, true}},
		{"an older server refuses held=: the same Dial resumes without", &fakeServer{old: true, closes: []string{"", ""}}, 2, []bool{true, false, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(tc.srv)
			defer ts.Close()
			base := "ws" + strings.TrimPrefix(ts.URL, "http")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			view := resumingView()
			for range tc.dials {
				c, err := Dial(ctx, base, "team=billing,sales", "", view, WithoutCompression())
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if _, err := c.Next(ctx); err == nil {
					c.Close()
				}
				view.Cursor = "c1" // a resume, whatever the fake sent
			}
			tc.srv.mu.Lock()
			defer tc.srv.mu.Unlock()
			var got []bool
			for i, q := range tc.srv.queries {
				announced := strings.Contains(q, "held=2")
				if !strings.Contains(q, "cursor=c1") {
					t.Errorf("upgrade %d: %q does not resume", i+1, q)
				}
				got = append(got, announced)
			}
			if len(got) != len(tc.wantHeld) {
				t.Fatalf("upgrades announcing held=: %v, want %v", got, tc.wantHeld)
			}
			for i := range got {
				if got[i] != tc.wantHeld[i] {
					t.Fatalf("upgrades announcing held=: %v, want %v", got, tc.wantHeld)
				}
			}
			accepted := 0
			for i, q := range tc.srv.queries {
				if tc.srv.old && strings.Contains(q, "held=") {
					continue // refused before the upgrade
				}
				if sent := tc.srv.heldSeen[accepted]; sent != strings.Contains(q, "held=") {
					t.Errorf("upgrade %d (%q): held messages sent = %v", i+1, q, sent)
				}
				accepted++
			}
		})
	}
}

// A 400 for the filter is not taken for an older server's: the attempt
// without held= is refused the same, and Dial says so.
func TestDial_ABadFilterIsStillRefused(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer ts.Close()
	_, err := Dial(context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http"), "status=opne", "", resumingView())
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Fatalf("Dial = %v, want the 400", err)
	}
}
