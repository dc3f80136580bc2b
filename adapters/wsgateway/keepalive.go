package wsgateway

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// pingConcurrency bounds the pings in flight: each waits for its pong.
const pingConcurrency = 64

// keepalive is the gateway's one housekeeping goroutine, instead of timers
// per socket. Every second (or ping interval, if shorter) it watches
// writes (watchWrites); once per ping interval it starts a round of pings
// beside itself. A ping waits up to the write timeout for its pong, which
// a client that stopped reading never sends, so neither the watchdog nor
// the next round waits for pings: a round skips the sockets whose last
// ping is still out. keepalive runs from the first connection until
// Shutdown, and returns when its pings have.
func (g *Gateway) keepalive() {
	defer close(g.pingerDone)
	t := time.NewTicker(min(g.opts.PingInterval, time.Second))
	defer t.Stop()
	p := &pinger{g: g, sem: make(chan struct{}, pingConcurrency), out: map[*conn]struct{}{}}
	defer p.pings.Wait()
	lastPing := time.Now()
	for {
		select {
		case <-g.stopPinger:
			return
		case <-t.C:
		}
		conns := g.openConns()
		g.watchWrites(conns)
		if time.Since(lastPing) < g.opts.PingInterval || p.starting.Load() {
			continue
		}
		lastPing = time.Now()
		p.starting.Store(true)
		p.pings.Go(func() {
			defer p.starting.Store(false)
			p.round(conns)
		})
	}
}

// openConns returns the sockets open now.
func (g *Gateway) openConns() []*conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	conns := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	return conns
}

// pinger sends the keepalive pings, at most pingConcurrency in flight.
type pinger struct {
	g        *Gateway
	sem      chan struct{}
	pings    sync.WaitGroup // rounds and the pings they started
	starting atomic.Bool    // a round is still starting its pings
	mu       sync.Mutex
	out      map[*conn]struct{} // sockets whose ping waits for its pong
}

// round pings every socket of conns that has no ping out, so that a dead
// client is noticed. It returns once it has started them all, or at once
// when Shutdown begins (closing a socket ends its ping).
func (p *pinger) round(conns []*conn) {
	for _, c := range conns {
		p.mu.Lock()
		_, busy := p.out[c]
		p.mu.Unlock()
		if busy {
			continue
		}
		select {
		case p.sem <- struct{}{}:
		case <-p.g.stopPinger:
			return
		}
		p.mu.Lock()
		p.out[c] = struct{}{}
		p.mu.Unlock()
		p.pings.Go(func() {
			c.ping()
			p.mu.Lock()
			delete(p.out, c)
			p.mu.Unlock()
			<-p.sem
		})
	}
}

// watchWrites closes every socket whose current write began more than twice
// the write timeout ago: by then the writer has long asked to close a slow
// client with 1013; a client that reads nothing at all is dropped here.
func (g *Gateway) watchWrites(conns []*conn) {
	limit := time.Now().Add(-2 * g.opts.WriteTimeout).UnixNano()
	var stalled []*conn
	for _, c := range conns {
		if since := c.writingSince.Load(); since != 0 && since < limit {
			c.recordClose(closeMsg{code: websocket.StatusGoingAway, reason: "write stalled"})
			stalled = append(stalled, c)
		}
	}
	closeAllNow(stalled)
}
