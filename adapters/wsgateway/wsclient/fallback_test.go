package wsclient

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
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

// rawHeldCloser is a server on a slow link: it upgrades by hand, reads
// nothing (the held tickets "do not all come"), sends the close frame the
// real gateway sends on errClaimLate, waits a moment (coder/websocket's
// close handshake wait) and drops the TCP connection.
type rawHeldCloser struct {
	mu      sync.Mutex
	queries []string
}

func (s *rawHeldCloser) serve(t *testing.T, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.(*net.TCPConn).SetReadBuffer(4096)
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.queries = append(s.queries, req.URL.RawQuery)
			s.mu.Unlock()
			h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
				base64.StdEncoding.EncodeToString(h[:]), Subprotocol)
			if !req.URL.Query().Has("held") {
				// a read-back resume: say something and hold the socket
				msg := []byte(`{"type":"counts","sub":1,"cursor":"c2"}`)
				c.Write(append([]byte{0x81, byte(len(msg))}, msg...))
				time.Sleep(2 * time.Second)
				return
			}
			time.Sleep(300 * time.Millisecond) // the claim wait, shortened
			reason := "held: the held tickets announced did not all come within 30s"
			payload := binary.BigEndian.AppendUint16(nil, 1013)
			payload = append(payload, reason...)
			c.Write(append([]byte{0x88, byte(len(payload))}, payload...))
			time.Sleep(300 * time.Millisecond) // close handshake wait
			c.(*net.TCPConn).SetLinger(0)
		}()
	}
}

func bigView(n int) *View {
	v := &View{Cursor: "c1", Tickets: map[int64]domain.Ticket{}}
	for i := 1; i <= n; i++ {
		v.Tickets[int64(i)] = domain.Ticket{ID: int64(i), Team: "billing", Status: domain.StatusOpen}
	}
	return v
}

// A resume whose held tickets are too slow to send falls back: the
// server's held close arrives while Dial is still writing them, so Dial
// fails with a write error and Next never sees the reason; the next Dial
// resumes without them. (Found by an attack: every later Dial claimed
// again and failed the same way, for ever.)
func TestDial_HeldTicketsTooSlowToSendFallBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &rawHeldCloser{}
	go srv.serve(t, ln)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.(*net.TCPConn).SetWriteBuffer(4096)
		}
		return c, err
	}}}
	view := bigView(300_000)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errs []string
	connected := false
	for i := 0; i < 3 && !connected; i++ {
		c, err := Dial(ctx, "ws://"+ln.Addr().String(), "team=billing", "", view, WithoutCompression(), WithHTTPClient(client))
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if _, err := c.Next(ctx); err != nil {
			errs = append(errs, "next: "+err.Error())
			continue
		}
		connected = true
		c.Conn.CloseNow()
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	t.Logf("errors: %q", errs)
	t.Logf("queries: %q", srv.queries)
	if !connected {
		n := 0
		for _, q := range srv.queries {
			if strings.Contains(q, "held=") {
				n++
			}
		}
		t.Fatalf("3 Dials after held closes, %d of %d upgrades still claimed; never resumed", n, len(srv.queries))
	}
}
