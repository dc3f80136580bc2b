package e2e

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// FaultProxy forwards TCP connections to a target and can break them the
// way networks and servers break: down (every connection reset, new ones
// refused: a database restarting) and blackhole (connections stay open but
// nothing more passes: a cable pulled, a laptop gone to sleep).
type FaultProxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	down      bool
	blackhole chan struct{} // closed while traffic flows; replaced to stop it
	flowing   bool
	wg        sync.WaitGroup
}

// NewFaultProxy listens on a loopback port and forwards every connection
// to target until the test ends.
func NewFaultProxy(tb testing.TB, target string) *FaultProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &FaultProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, blackhole: make(chan struct{}), flowing: true}
	close(p.blackhole)
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(func() {
		ln.Close()
		p.SetDown(true)
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's listen address: give it to the client instead of
// target's.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies from src to dst while traffic flows; blackholed, it stops
// reading, so that the sender's writes back up and block.
func (p *FaultProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		p.mu.Lock()
		gate := p.blackhole
		p.mu.Unlock()
		<-gate
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate = p.blackhole
			p.mu.Unlock()
			<-gate
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// SetDown resets every connection and refuses new ones (true), or accepts
// again (false).
func (p *FaultProxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset, as from a crashed server
			}
			c.Close()
		}
		clear(p.conns)
		if !p.flowing { // let the pipes see their closed connections
			close(p.blackhole)
			p.flowing = true
		}
	}
}

// SetBlackhole stops (true) or restarts (false) all traffic without closing
// anything.
func (p *FaultProxy) SetBlackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && p.flowing {
		p.blackhole = make(chan struct{})
		p.flowing = false
	} else if !on && !p.flowing {
		close(p.blackhole)
		p.flowing = true
	}
}

// ThroughProxy returns the database URL u with its host replaced by addr.
func ThroughProxy(tb testing.TB, u, addr string) string {
	tb.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		tb.Fatal(err)
	}
	pu.Host = addr
	return pu.String()
}
