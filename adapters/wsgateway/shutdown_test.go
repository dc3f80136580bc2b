package wsgateway_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// TestShutdown_DoesNotWaitForPings: clients that stopped reading never
// answer a ping, and a ping waits up to the write timeout (a minute here)
// for its pong. Shutdown must send every other socket its 1001 without
// waiting for those pings.
func TestShutdown_DoesNotWaitForPings(t *testing.T) {
	f := newFixture(t, demodata.New(10).Tickets(50), wsgateway.Options{PingInterval: 20 * time.Millisecond, WriteTimeout: time.Minute})
	for range 3 {
		stuck := dial(t, f.url(""), "admin")
		readSnapshot(t, stuck, 1) // and never reads again: its pings go unanswered
	}
	type reader struct {
		pings atomic.Int64
		code  atomic.Int64
	}
	readers := make([]*reader, 3)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the sockets' own cleanups, which end the reads
	for i := range readers {
		r := &reader{}
		readers[i] = r
		c, _, err := websocket.Dial(context.Background(), f.url(""), &websocket.DialOptions{
			HTTPHeader: http.Header{"Authorization": {"Bearer admin"}}, Subprotocols: []string{wsgateway.Subprotocol},
			OnPingReceived: func(context.Context, []byte) bool { r.pings.Add(1); return true },
		})
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		t.Cleanup(func() { c.CloseNow() })
		wg.Go(func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					r.code.Store(int64(websocket.CloseStatus(err)))
					return
				}
			}
		})
	}
	portstest.Await(t, "every reading client to be pinged", func() bool {
		for _, r := range readers {
			if r.pings.Load() == 0 {
				return false
			}
		}
		return true
	})

	shutdownDone := make(chan error, 1)
	began := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shutdownDone <- f.gw.Shutdown(ctx)
	}()
	// Far below the write timeout that the pings of the stuck clients wait
	// for, and far above what sending a close frame takes.
	portstest.WaitFor(t, 20*time.Second, "every reading client to get 1001", func() bool {
		for _, r := range readers {
			if r.code.Load() != int64(websocket.StatusGoingAway) {
				return false
			}
		}
		return true
	})
	// The bound operators are promised: every socket hears 1001 within a
	// second of the shutdown, whatever its pings wait for (a few ms here;
	// the pings of the stuck clients wait a minute).
	if took := time.Since(began); took > time.Second {
		t.Fatalf("every reading client got 1001 only after %v, want within 1s", took)
	}
	if err := <-shutdownDone; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestCloseLog_AbnormalClosureIs1006: a socket dropped without a close
// frame is logged as 1006, one closed properly with its code.
func TestCloseLog_AbnormalClosureIs1006(t *testing.T) {
	tests := []struct {
		name  string
		close func(*websocket.Conn)
		want  string
	}{
		{"close frame 1000", func(c *websocket.Conn) { c.Close(websocket.StatusNormalClosure, "") }, `"close_code":1000`},
		{"close frame 1001", func(c *websocket.Conn) { c.Close(websocket.StatusGoingAway, "") }, `"close_code":1001`},
		{"connection dropped", func(c *websocket.Conn) { c.CloseNow() }, `"close_code":1006`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, demodata.New(11).Tickets(20), wsgateway.Options{})
			c := dial(t, f.url(""), "admin")
			readSnapshot(t, c, 1)
			tc.close(c)
			portstest.WaitFor(t, 10*time.Second, "the close to be logged", func() bool { return strings.Contains(f.logs.String(), `"websocket closed"`) })
			if logs := f.logs.String(); !strings.Contains(logs, tc.want) {
				t.Fatalf("log after %s, want %s:\n%s", tc.name, tc.want, logs)
			}
		})
	}
}
