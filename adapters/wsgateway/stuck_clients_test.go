package wsgateway_test

// Clients that stop reading, leave mid-message or fall behind, against the
// writer pool and the corked writer: how a fresh attacker broke them, kept.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"encoding/json"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// stuckClient upgrades a socket by hand, with a tiny receive buffer, and
// never reads after the upgrade's response.
func stuckClient(tb testing.TB, addr, query string) net.Conn {
	tb.Helper()
	d := net.Dialer{Control: nil}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	conn.(*net.TCPConn).SetReadBuffer(4096)
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(conn, "GET /v1/stream?%s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: %s\r\nAuthorization: Bearer admin\r\n\r\n",
		query, addr, base64.StdEncoding.EncodeToString(key), wsgateway.Subprotocol)
	br := bufio.NewReaderSize(conn, 256)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		tb.Fatalf("upgrade: %v %v", err, resp)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// Clients stop reading in the middle of a large snapshot: the watchdog
// closes every one of them (2 × the write timeout after their writes
// stuck). Closing one waits only moments for its stuck write
// (TestCorkedWriter_CloseDoesNotWaitForAStuckClient), and the watchdog
// closes them side by side.
func TestStuckClients_TheWatchdogClosesThemAll(t *testing.T) {
	const n = 8
	f := newFixture(t, demodata.New(7).Tickets(20_000), wsgateway.Options{WriteTimeout: 100 * time.Millisecond, PingInterval: time.Hour, QueueChunks: 2})
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	for range n {
		stuckClient(t, addr, "")
	}
	portstest.Await(t, "every stuck socket to close", func() bool { return f.gw.OpenConnections() == 0 })
	if got := strings.Count(f.logs.String(), `"close_code":1013`); got != n {
		t.Errorf("%d of %d stuck sockets closed with 1013 and a cursor:\n%s", got, n, f.logs.String())
	}
}

// Shutdown with a short deadline drops the sockets of clients that stopped
// reading when the deadline passes, all at once, while a healthy dashboard
// beside them gets its 1001 at once.
func TestStuckClients_ShutdownDropsThemAtItsDeadline(t *testing.T) {
	const n = 8
	f := newFixture(t, demodata.New(7).Tickets(20_000), wsgateway.Options{WriteTimeout: time.Hour, PingInterval: time.Hour, QueueChunks: 2})
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	// A healthy dashboard beside them, with a small view.
	c := dial(t, f.url("status=closed&priority=urgent"), "admin")
	c.SetReadLimit(1 << 24)
	readSnapshot(t, c, 1)
	for range n {
		stuckClient(t, addr, "")
	}
	portstest.Await(t, "every client's socket stuck in a write", func() bool { return f.gw.StuckWrites(100*time.Millisecond) == n })
	var got websocket.StatusCode
	var wg sync.WaitGroup
	gotAt := make(chan time.Time, 1)
	wg.Go(func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				got = websocket.CloseStatus(err)
				gotAt <- time.Now()
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := f.gw.Shutdown(ctx)
	took := time.Since(start)
	wg.Wait()
	at := <-gotAt
	t.Logf("Shutdown: %v in %v; healthy socket got %v after %v", err, took, got, at.Sub(start))
	if got != websocket.StatusGoingAway {
		t.Errorf("healthy socket: closed with %v, want 1001", got)
	}
	// One by one, each waiting 1 s for its client, took n seconds more.
	if limit := 300*time.Millisecond + n*250*time.Millisecond; took > limit {
		t.Errorf("Shutdown with a 300 ms deadline and %d stuck sockets took %v: it waited for them one by one", n, took)
	}
}

type versionChange struct {
	Op     string `json:"op"`
	ID     int64  `json:"id"`
	Ticket struct {
		ID      int64  `json:"id"`
		Subject string `json:"subject"`
		Status  string `json:"status"`
	} `json:"ticket"`
}

// One ticket changes 400 times, about every millisecond, some versions
// leaving the filter. A dashboard that keeps up, one that pauses, and one
// filtered on status each see the versions strictly in order, none twice,
// none outside the filter, and end on the feed's state.
func TestStuckClients_EveryVersionInOrder(t *testing.T) {
	tickets := demodata.New(21).Tickets(200)
	f := newFixture(t, tickets, wsgateway.Options{})
	target := tickets[100]
	target.Status = domain.StatusOpen
	f.feed.Put(target)
	f.waitHubIdle(t)
	type result struct {
		name   string
		events []string
	}
	clients := []struct {
		name, query string
		pause       time.Duration
	}{{"fast", "", 0}, {"paused", "", 200 * time.Millisecond}, {"open-fast", "status=open", 0}, {"open-paused", "status=open", 150 * time.Millisecond}}
	results := make([]*result, len(clients))
	var wg sync.WaitGroup
	// One context for all the reads, ended once the changes are counted:
	// a read whose own context ends closes the socket (coder/websocket), so
	// a short timeout per read lost every client whenever a loaded machine
	// kept one waiting that long.
	reads, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	for i, cl := range clients {
		c := dial(t, f.url(cl.query), "admin")
		c.SetReadLimit(1 << 24)
		readSnapshot(t, c, 1)
		r := &result{name: cl.name}
		results[i] = r
		wg.Go(func() {
			paused := false
			for {
				_, data, err := c.Read(reads)
				if err != nil {
					if reads.Err() == nil {
						t.Errorf("%s: %v", cl.name, err)
					}
					return
				}
				var m struct {
					Type    string          `json:"type"`
					Changes []versionChange `json:"changes"`
				}
				json.Unmarshal(data, &m)
				for _, ch := range m.Changes {
					if ch.Op == "remove" && ch.ID == target.ID {
						r.events = append(r.events, "remove")
					} else if ch.Ticket.ID == target.ID {
						r.events = append(r.events, ch.Ticket.Subject+"/"+ch.Ticket.Status)
					}
				}
				if cl.pause > 0 && !paused && len(r.events) > 0 {
					paused = true
					time.Sleep(cl.pause)
				}
			}
		})
	}
	cur := target
	for i := range 400 {
		cur = touch(cur, fmt.Sprintf("v%04d", i))
		switch {
		case i%7 == 3:
			cur.Status = domain.StatusClosed // leaves status=open
		case i%7 == 5:
			cur.Status = domain.StatusOpen // back
		}
		f.feed.Put(cur)
		time.Sleep(time.Millisecond)
	}
	f.waitHubIdle(t)
	time.Sleep(time.Second)
	stopReading()
	wg.Wait()
	for i, r := range results {
		filtered := clients[i].query != ""
		last := ""
		seen := map[string]bool{}
		versions := 0
		for j, e := range r.events {
			if e == "remove" {
				if j > 0 && r.events[j-1] == "remove" {
					t.Errorf("%s: two removals in a row at %d", r.name, j)
				}
				continue
			}
			versions++
			subj := strings.SplitN(e, "/", 2)[0]
			if seen[subj] {
				t.Errorf("%s: duplicate %s", r.name, e)
			}
			seen[subj] = true
			if subj <= last {
				t.Errorf("%s: %s after %s: out of order", r.name, subj, last)
			}
			last = subj
			if filtered && !strings.HasSuffix(e, "/open") {
				t.Errorf("%s: got %s outside its filter", r.name, e)
			}
		}
		end := "none"
		if n := len(r.events); n > 0 {
			end = r.events[n-1]
		}
		wantEnd := cur.Subject + "/" + string(cur.Status)
		if filtered && cur.Status != domain.StatusOpen {
			wantEnd = "remove"
		}
		t.Logf("%s: %d versions, %d events, ends %s", r.name, versions, len(r.events), end)
		if end != wantEnd {
			t.Errorf("%s: ends on %s, want %s", r.name, end, wantEnd)
		}
	}
}

// Clients read part of a large snapshot, then reset the connection,
// half-close it or send a close frame and stop reading, while live changes
// flow. Every socket closes, the buffers go back to the pools, and no
// goroutine is left (TestMain's leak check).
func TestStuckClients_LeavingMidMessage(t *testing.T) {
	tickets := demodata.New(23).Tickets(20_000)
	f := newFixture(t, tickets, wsgateway.Options{WriteTimeout: 500 * time.Millisecond})
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	stopW := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopW:
				return
			case <-time.After(time.Millisecond):
			}
			f.feed.Put(touch(tickets[i%len(tickets)], fmt.Sprintf("w%d", i)))
		}
	})
	for i := range 30 {
		conn := stuckClient(t, addr, "")
		wg.Go(func() {
			buf := make([]byte, 1000+i*3000)
			io.ReadFull(conn, buf)
			switch i % 3 {
			case 0:
				conn.(*net.TCPConn).SetLinger(0) // RST
				conn.Close()
			case 1:
				conn.(*net.TCPConn).CloseWrite() // half close, still not reading
				time.Sleep(200 * time.Millisecond)
				conn.Close()
			case 2:
				// a close frame from the client (masked, code 1000), then stop reading
				conn.Write([]byte{0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2})
				time.Sleep(100 * time.Millisecond)
				conn.Close()
			}
		})
	}
	time.Sleep(time.Second)
	close(stopW)
	wg.Wait()
	start := time.Now()
	portstest.WaitFor(t, 30*time.Second, "every socket to close", func() bool { return f.gw.OpenConnections() == 0 })
	t.Logf("all closed %v after the clients left", time.Since(start))
	if testing.Verbose() {
		t.Log(f.logs.String())
	}
	portstest.WaitFor(t, 10*time.Second, "every buffer back", func() bool { return f.streamer.PoolStats().InUse() == 0 })
}
