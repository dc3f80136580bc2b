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
	"encoding/base64"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// Options are the gateway's limits and policies.
type Options struct {
	// AllowedOrigins are host patterns (hostguard's syntax: an exact host
	// with an optional port, as "dash.example.com", or "*.example.com" for
	// its subdomains but not example.com itself) whose pages may open a
	// socket, besides the server's own host. A pattern of any other shape
	// matches nothing; callers check them with hostguard.ParsePatterns.
	// A request without an Origin header (not a browser) passes: origin
	// checks stop cross-site hijacking, tokens stop everyone else.
	AllowedOrigins []string
	// MaxConnections bounds open sockets; beyond it the upgrade gets 503.
	MaxConnections int
	// MaxConnectionsPerToken bounds the open sockets of one token, so that
	// one client cannot take them all; beyond it the upgrade gets 429.
	// It is off when the verifier checks no token.
	MaxConnectionsPerToken int
	// MaxConnectionsPerAddress bounds the open sockets of one client
	// address (the TCP peer's, never a forwarded-for header; an IPv6
	// address counts by its /64); beyond it the upgrade gets 429. Behind a
	// reverse proxy every client has the proxy's address: raise it there.
	MaxConnectionsPerAddress int
	// SubscribeBurst and SubscribesPerSecond rate-limit a socket's
	// subscribe messages, each of which starts a snapshot: a burst of
	// SubscribeBurst, then SubscribesPerSecond. A client beyond is closed
	// with 1008.
	SubscribeBurst      int
	SubscribesPerSecond float64
	// MaxMessageBytes bounds a client message; a larger one closes with 1009.
	MaxMessageBytes int64
	// WriteTimeout is how long a client may keep its queue full before it is
	// closed with 1013 (try again later) and a resume cursor.
	WriteTimeout time.Duration
	// QueueChunks is how many messages may wait for a slow client.
	QueueChunks int
	// PingInterval is how often an idle socket is pinged.
	PingInterval time.Duration
}

// DefaultOptions holds on a 2-core machine with a few thousand dashboards.
// A zero field of the Options given to New takes its default; see Validate.
func DefaultOptions() Options {
	return Options{MaxConnections: 10_000, MaxConnectionsPerToken: 100, MaxConnectionsPerAddress: 1000,
		SubscribeBurst: 20, SubscribesPerSecond: 5,
		MaxMessageBytes: 4096, WriteTimeout: 10 * time.Second, QueueChunks: 16, PingInterval: 30 * time.Second}
}

// Observer is told what the sockets send, for metrics. Its methods run on
// every socket's writer: they must return at once and should not allocate.
type Observer interface {
	// MessageSent is called for each message written, with its size.
	MessageSent(bytes int)
	// ChangeSent is called for each live upsert written, with the time
	// since the ticket's updated_at.
	ChangeSent(lag time.Duration)
	// SlowClosed is called when a socket is closed with 1013 for falling
	// behind.
	SlowClosed()
}

type nopObserver struct{}

func (nopObserver) MessageSent(int)          {}
func (nopObserver) ChangeSent(time.Duration) {}
func (nopObserver) SlowClosed()              {}

// Gateway is an http.Handler that upgrades requests to dashboard sockets.
type Gateway struct {
	streamer *app.Streamer
	hub      *app.Hub
	cursors  *domain.CursorSealer
	auth     bearer.Verifier
	opts     Options
	log      *slog.Logger
	obs      Observer
	limits   *peerlimit.Limits
	origins  []hostguard.Pattern

	open     atomic.Int64
	nextID   atomic.Uint64
	mu       sync.Mutex
	conns    map[*conn]struct{}
	draining bool
	wg       sync.WaitGroup

	pingerOnce sync.Once
	stopPinger chan struct{}
	pingerDone chan struct{}
}

// MaxMessageBytesLimit is the largest MaxMessageBytes: a client message
// is a short subscribe, never a megabyte.
const MaxMessageBytesLimit = 1 << 20

// minMessageBytes is the smallest MaxMessageBytes: below it no subscribe
// message would fit.
const minMessageBytes = 64

// Validate reports a setting no gateway can use, naming it: zero means the
// default of DefaultOptions, a negative value is an error, and so is an
// allowed origin that is not a host pattern, a subscribe rate that is not
// a number, or a message bound outside 64 bytes to 1 MiB.
func (o Options) Validate() error {
	for _, f := range []struct {
		v     int
		param string
	}{{o.MaxConnections, "max-connections"}, {o.MaxConnectionsPerToken, "max-connections-per-token"},
		{o.MaxConnectionsPerAddress, "max-connections-per-address"}, {o.SubscribeBurst, "subscribe-burst"}, {o.QueueChunks, "queue-chunks"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or more, got %d", f.v)
		}
	}
	if r := o.SubscribesPerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return domain.Invalidf("subscribes-per-second", "must be 0 (the default) or a positive number, got %v", r)
	}
	if m := o.MaxMessageBytes; m != 0 && (m < minMessageBytes || m > MaxMessageBytesLimit) {
		return domain.Invalidf("max-message-bytes", "must be 0 (the default) or between %d and %d, got %d", minMessageBytes, MaxMessageBytesLimit, m)
	}
	for _, f := range []struct {
		v     time.Duration
		param string
	}{{o.WriteTimeout, "write-timeout"}, {o.PingInterval, "ping-interval"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or a positive duration, got %s", f.v)
		}
	}
	if _, err := hostguard.ParsePatterns(o.AllowedOrigins); err != nil {
		return domain.Invalidf("allowed-origins", "must be host patterns: %v", err)
	}
	return nil
}

// withDefaults validates o and fills its zero fields.
func (o Options) withDefaults() (Options, error) {
	if err := o.Validate(); err != nil {
		return o, err
	}
	d := DefaultOptions()
	for _, f := range []struct{ v, def *int }{{&o.MaxConnections, &d.MaxConnections}, {&o.MaxConnectionsPerToken, &d.MaxConnectionsPerToken},
		{&o.MaxConnectionsPerAddress, &d.MaxConnectionsPerAddress}, {&o.SubscribeBurst, &d.SubscribeBurst}, {&o.QueueChunks, &d.QueueChunks}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if o.SubscribesPerSecond == 0 {
		o.SubscribesPerSecond = d.SubscribesPerSecond
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = d.MaxMessageBytes
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = d.WriteTimeout
	}
	if o.PingInterval == 0 {
		o.PingInterval = d.PingInterval
	}
	return o, nil
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
	return &Gateway{streamer: streamer, hub: hub, cursors: cursors, auth: auth, opts: opts, log: log, obs: nopObserver{}, conns: map[*conn]struct{}{},
		limits: newConnLimits(opts, checkTokens), origins: origins,
		stopPinger: make(chan struct{}), pingerDone: make(chan struct{})}, nil
}

// checkUpgrade answers what coder/websocket would refuse in plain text,
// with our JSON errors: a request that is not a WebSocket upgrade (426), or
// a malformed one (400). It returns 0 for a well-formed upgrade.
func checkUpgrade(r *http.Request) (int, string) {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		return http.StatusUpgradeRequired, "this endpoint speaks WebSocket: send an upgrade request (Connection: Upgrade, Upgrade: websocket) offering the ticketstream.v1 subprotocol"
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		return http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version " + strconv.Quote(truncate(v, 16)) + ": use 13"
	}
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key"))
	if err != nil || len(key) != 16 {
		return http.StatusBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64"
	}
	return 0, ""
}

// headerHasToken reports whether header name lists token (case-insensitive,
// comma-separated, possibly over several lines).
func headerHasToken(h http.Header, name, token string) bool {
	for _, line := range h.Values(name) {
		for t := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
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
	ws, err := websocket.Accept(withSmallBuffers(w), r, &websocket.AcceptOptions{
		Subprotocols:       []string{Subprotocol},
		InsecureSkipVerify: true, // the origin was checked above, with a JSON answer
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		g.log.Info("websocket upgrade failed", "err", err)
		return
	}
	reserved = false
	c := g.newConn(ws, scope, values.Encode())
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
		for _, c := range conns {
			c.ws.CloseNow()
		}
		<-done
		err = ctx.Err()
	}
	<-g.pingerDone
	return err
}

// bearerToken finds the token: an Authorization header (scripts), a
// "bearer.<token>" subprotocol (browsers), or access_token in the query
// (last resort: URLs end up in proxy logs).
// A malformed Authorization header is an error, as it is on the REST
// routes: both read it through package bearer.
func bearerToken(r *http.Request, values url.Values) (string, error) {
	if t, present, err := bearer.FromHeader(r); present {
		return t, err
	}
	for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(p), BearerPrefix); ok {
			return t, nil
		}
	}
	return values.Get("access_token"), nil
}

// originAllowed applies the cross-site WebSocket hijacking defence: a
// browser's Origin must be this host or match an allowed pattern.
func (g *Gateway) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	// The request's Host passed the listener's allow-list, so a page of
	// the same host is one of ours, not a rebound name.
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	host, port, ok := hostguard.SplitHostPort(u.Host)
	if !ok {
		return false
	}
	for _, p := range g.origins {
		if p.Match(host, port) {
			return true
		}
	}
	return false
}
