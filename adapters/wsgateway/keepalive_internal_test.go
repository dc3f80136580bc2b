package wsgateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// TestKeepalive_WatchdogDoesNotWaitForPings: more clients than
// pingConcurrency never answer a ping, so a round of pings waits the whole
// write timeout (an hour here) for its pongs. The watchdog must still
// close a socket whose write has stalled.
func TestKeepalive_WatchdogDoesNotWaitForPings(t *testing.T) {
	g, err := New(nil, nil, nil, nil, Options{PingInterval: 10 * time.Millisecond, WriteTimeout: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *websocket.Conn)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		accepted <- ws
	}))
	defer srv.Close()
	var conns []*conn
	defer func() {
		for _, c := range conns {
			c.ws.CloseNow() // ends its ping
			c.cancel()
			g.release(c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}()
	for range pingConcurrency + 6 {
		// The client never reads, so it never answers a ping.
		client, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer client.CloseNow()
		conns = append(conns, g.newConn(<-accepted, domain.Scope{AllTeams: true}, ""))
	}
	// A pause for the pings to go out and take every slot, so that a
	// watchdog waiting behind them would be caught; what is asserted below
	// does not depend on it.
	time.Sleep(200 * time.Millisecond)
	stalled := conns[len(conns)-1]
	stalled.writingSince.Store(time.Now().Add(-3 * time.Hour).UnixNano())
	portstest.WaitFor(t, 20*time.Second, "the watchdog to close the stalled socket", func() bool {
		return stalled.closedBy().reason == "write stalled"
	})
}
