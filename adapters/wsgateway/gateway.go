// Package wsgateway is the WebSocket side of ticketstream: dashboards
// connect with a filter, get every matching ticket as a sequence of snapshot
// messages built around the core's chunks (never re-encoded), then an end
// message, and stay connected. The protocol is in docs/protocol.md.
//
// One connection runs a reader (client messages, control frames) and, while
// it has something to write, a writer behind a queue bounded in chunks; per
// subscription a producer streams the snapshot through the core. One
// goroutine of the gateway pings every socket. coder/websocket has no
// write queue of its own and closes a connection whose write times out, so
// the slow-client policy is here: a client whose queue stays full for the
// write timeout is closed with 1013 and a resume cursor, its queued chunks
// released.
package wsgateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/bearer"
	"github.com/ticketstream/ticketstream/adapters/hostguard"
	"github.com/ticketstream/ticketstream/adapters/httperror"
	"github.com/ticketstream/ticketstream/adapters/peerlimit"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

// Gateway is an http.Handler that upgrades requests to dashboard sockets.
type Gateway struct {
	streamer *app.Streamer
	hub      *app.Hub
	cursors  *domain.CursorSealer
	digester *domain.HeldDigester // of what dashboards hold, for their cursors
	// claimWait: how long a resume waits for the held tickets announced.
	claimWait time.Duration
	auth      bearer.Verifier
	opts      Options
	log       *slog.Logger
	obs       Observer
	limits    *peerlimit.Limits
	origins   []hostguard.Pattern

	open     atomic.Int64
	nextID   atomic.Uint64
	mu       sync.Mutex
	conns    map[*conn]struct{}
	draining bool
	wg       sync.WaitGroup

	writerPool *writerPool

	pingerOnce sync.Once
	stopPinger chan struct{}
	pingerDone chan struct{}
}

// New returns a Gateway streaming snapshots through streamer and live
// changes from hub, checking tokens with auth; cursors seals the cursors
// of its messages and opens those clients resume from. Zero fields of opts
// take their defaults; New returns Validate's EInvalid error for any other
// unusable setting.
func New(streamer *app.Streamer, hub *app.Hub, cursors *domain.CursorSealer, auth bearer.Verifier, opts Options, log *slog.Logger) (*Gateway, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("websocket options: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	checkTokens := bearer.ChecksTokens(auth)
	origins, _ := hostguard.ParsePatterns(opts.AllowedOrigins) // checked by Validate
	var digester *domain.HeldDigester
	if cursors != nil {
		digester = cursors.HeldDigester()
	}
	return &Gateway{streamer: streamer, hub: hub, cursors: cursors, digester: digester, claimWait: claimWait, auth: auth, opts: opts, log: log, obs: nopObserver{}, conns: map[*conn]struct{}{},
		limits: newConnLimits(opts, checkTokens), origins: origins, writerPool: newWriterPool(),
		stopPinger: make(chan struct{}), pingerDone: make(chan struct{})}, nil
}

// SetObserver makes the gateway report to o. Call it before serving.
func (g *Gateway) SetObserver(o Observer) {
	if o == nil {
		o = nopObserver{}
	}
	g.obs = o
}

// OpenConnections returns how many sockets are open now.
func (g *Gateway) OpenConnections() int { return int(g.open.Load()) }

// ServeHTTP checks the upgrade request — capacity, token, filter, scope,
// origin — answering a refusal with an HTTP status and a JSON error, then
// upgrades and serves the socket until it closes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if status, msg := checkUpgrade(r); status != 0 {
		if status == http.StatusUpgradeRequired {
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		httperror.Write(w, status, httperror.Body{Error: httperror.Detail{Code: string(domain.EInvalid), Message: msg}})
		return
	}
	if !g.reserve() {
		httperror.WriteError(w, &domain.Error{Code: domain.EUnavailable, Message: "too many open connections, or the server is shutting down: try again later"})
		return
	}
	reserved := true
	defer func() {
		if reserved {
			g.open.Add(-1)
		}
	}()
	values, err := domain.ParseQueryString(r.URL.RawQuery)
	if err != nil {
		httperror.WriteError(w, err)
		return
	}
	token, err := bearerToken(r, values)
	values.Del("access_token")
	if err != nil {
		httperror.WriteError(w, err)
		return
	}
	scope, err := g.auth.Verify(token)
	if err != nil {
		httperror.WriteError(w, err)
		return
	}
	sub, err := ParseSubscription(values, g.cursors)
	if err == nil {
		sub.Query, err = scope.Restrict(sub.Query)
	}
	if err != nil {
		httperror.WriteError(w, err)
		return
	}
	if !g.originAllowed(r) {
		httperror.WriteError(w, &domain.Error{Code: domain.EForbidden, Param: "origin", Message: "this page's origin may not open a dashboard socket"})
		return
	}
	lease, refused := g.limits.Reserve(token, r.RemoteAddr)
	if refused != nil {
		refused.Write(w)
		return
	}
	leased := true
	defer func() {
		if leased {
			lease.Release()
		}
	}()
	hw := withSmallBuffers(w)
	ws, err := websocket.Accept(hw, r, g.acceptOptions())
	if err != nil {
		g.log.Info("websocket upgrade failed", "err", err)
		return
	}
	reserved = false
	c := g.newConn(ws, scope, values.Encode())
	if c != nil {
		c.plainLive = negotiatedDeflate(w.Header()) && !g.opts.CompressLiveChanges
		c.cork = corkOf(hw)
	}
	if c == nil {
		ws.Close(websocket.StatusGoingAway, "server shutting down")
		g.open.Add(-1)
		return
	}
	leased = false
	// The socket is served by a goroutine of its own, and this handler
	// returns: the HTTP server's goroutine, whose stack grew deep while it
	// routed and upgraded the request, ends, and the request with it, so an
	// idle dashboard holds one shallow goroutine and no request.
	first := &sub
	go func() {
		defer g.release(c)
		defer lease.Release()
		c.serve(first)
	}()
}

// reserve counts a new connection in, if there is room and no shutdown.
func (g *Gateway) reserve() bool {
	g.mu.Lock()
	draining := g.draining
	g.mu.Unlock()
	if draining {
		return false
	}
	if g.open.Add(1) > int64(g.opts.MaxConnections) {
		g.open.Add(-1)
		return false
	}
	return true
}

func (g *Gateway) newConn(ws *websocket.Conn, scope domain.Scope, filter string) *conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining {
		return nil
	}
	c := newConn(g, ws, scope, filter)
	g.conns[c] = struct{}{}
	g.wg.Add(1)
	g.pingerOnce.Do(func() { go g.keepalive() })
	return c
}

func (g *Gateway) release(c *conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	g.open.Add(-1)
	g.wg.Done()
}

// Shutdown refuses new sockets, closes every open one with 1001 (going
// away) and waits for them to finish, or for ctx; then it drops the rest.
// The HTTP server's own Shutdown does not wait for hijacked connections, so
// the server must call this too.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	alreadyDraining := g.draining
	g.draining = true
	conns := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	if !alreadyDraining {
		close(g.stopPinger)
	}
	g.pingerOnce.Do(func() { close(g.pingerDone) }) // never started
	// The close frames go out first, whatever pings are in flight: a ping
	// waits up to the write timeout for a pong that a client which stopped
	// reading never sends, and the other sockets must not wait behind it.
	// Closing a socket ends its ping.
	for _, c := range conns {
		c.closeWith(websocket.StatusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		closeAllNow(conns)
		<-done
		err = ctx.Err()
	}
	<-g.pingerDone
	return err
}

// closeAllNow drops conns' connections at once, side by side: closing one
// whose client stopped reading takes a moment (see corkedWriter.Close), and
// none waits for another.
func closeAllNow(conns []*conn) {
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.ws.CloseNow() })
	}
	wg.Wait()
}
