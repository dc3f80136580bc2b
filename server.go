package ticketstream

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ticketstream/ticketstream/adapters/bearer"
	"github.com/ticketstream/ticketstream/adapters/dashboard"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/hostguard"
	"github.com/ticketstream/ticketstream/adapters/internalapi"
	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/adapters/metrics"
	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

// ServerConfig is what `ticketstream serve` adds to Config.
type ServerConfig struct {
	// Addr is the listen address; the server itself listens on what it is
	// given, and Addr decides whether open access is allowed.
	Addr string
	// JWTSecret signs dashboards' tokens (HS256). Empty, with no
	// Token.Secrets either, means open access, allowed only when Addr is a
	// loopback address.
	JWTSecret string
	// AllowedHosts are the Host headers the public listener serves
	// (hostguard patterns); see AllowedHosts for the default.
	AllowedHosts []string
	// InternalAddr is the internal listener's address (metrics, profiler);
	// it decides which Host headers that listener serves.
	InternalAddr string
	// Profiler adds Go's profiler to the internal listener.
	Profiler bool
	// Token is the rest of the token policy: the audience, the issuer, the
	// maximum lifetime, and secrets accepted beside JWTSecret (the next or
	// the previous one during a rotation; without JWTSecret the first of
	// them signs).
	Token     jwtauth.Config
	REST      restapi.Config
	WebSocket wsgateway.Options
	// CursorKeyFile, when set, holds the key that seals cursors (at least
	// 32 bytes; surrounding white space is ignored), given alike to every
	// replica. Empty means the key stored in the database (see
	// NewCursorSealer).
	CursorKeyFile string
	// DemoTickets are written into an empty database at start, so that a new
	// user sees data at once; 0 turns it off.
	DemoTickets int
	// DemoEnd is when the demo tickets' history ends: they are created in
	// the weeks before it. Zero means the moment they are written, so that
	// a new dashboard shows a live help desk's ages; tests pin it.
	DemoEnd time.Time
	// ShutdownTimeout is how long running REST streams and open sockets get
	// to finish after SIGINT or SIGTERM. Zero: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Dashboard is what the page is told by the server (its SLA targets);
	// the zero value is the defaults.
	Dashboard dashboard.Config
}

// DefaultShutdownTimeout is ServerConfig.ShutdownTimeout's default.
const DefaultShutdownTimeout = 10 * time.Second

// MaxDemoTickets bounds ServerConfig.DemoTickets: demo data, not a load.
const MaxDemoTickets = 1_000_000

// Validate reports a setting the server cannot run with, naming it: the
// REST, WebSocket and token settings by their own Validate, then what only the
// server as a whole can judge (open access off loopback, the hosts and
// origins allowed with it, the internal listener's address). Zero means the
// default, a negative value is an error.
func (c ServerConfig) Validate() error {
	if err := c.REST.Validate(); err != nil {
		return err
	}
	if err := c.WebSocket.Validate(); err != nil {
		return err
	}
	if err := c.Dashboard.Validate(); err != nil {
		return err
	}
	token := c.Token
	if c.JWTSecret != "" {
		token.Secrets = append([]string{c.JWTSecret}, token.Secrets...)
	}
	if err := token.Validate(); err != nil {
		return err
	}
	switch {
	case c.DemoTickets < 0 || c.DemoTickets > MaxDemoTickets:
		return domain.Invalidf("demo-tickets", "must be between 0 (none) and %d, got %d", MaxDemoTickets, c.DemoTickets)
	case c.ShutdownTimeout < 0:
		return domain.Invalidf("shutdown-timeout", "must be 0 (the default) or a positive duration, got %s", c.ShutdownTimeout)
	case c.InternalAddr != "" && !validListen(c.InternalAddr):
		return domain.Invalidf("internal-listen", "must be host:port, as 127.0.0.1:9464, got %q", c.InternalAddr)
	case c.Profiler && !IsLoopback(c.InternalAddr):
		return domain.Invalidf("internal-listen", "must be a loopback address with the profiler on (the profiler must not be public)")
	case c.InternalAddr != "" && sameAddr(c.InternalAddr, c.Addr):
		return domain.Invalidf("internal-listen", "must be another address than the public listener's %s (the public listener serves no metrics)", c.Addr)
	}
	if c.CursorKeyFile != "" {
		if err := CheckCursorKeyFile(c.CursorKeyFile); err != nil {
			return err
		}
	}
	open := c.JWTSecret == "" && len(c.Token.Secrets) == 0
	if open && !IsLoopback(c.Addr) {
		return domain.Invalidf("jwt-secret", "must be set when listening on %s, not a loopback address (a secret or a secret file: auth may be off only on loopback)", c.Addr)
	}
	if open {
		// With auth off a page that may open a socket reads every ticket:
		// only pages served from this machine may.
		patterns, _ := hostguard.ParsePatterns(c.WebSocket.AllowedOrigins) // checked above
		for _, p := range patterns {
			if host, _, _ := hostguard.SplitHostPort(p.String()); !hostguard.IsLoopback(host) {
				return domain.Invalidf("allowed-origins", "may name only loopback hosts while auth is off: pages of %s would read every ticket", p)
			}
		}
	}
	_, err := AllowedHosts(c.Addr, open, c.AllowedHosts)
	return err
}

// validListen reports whether addr is host:port with a numeric port.
func validListen(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	_, err = net.LookupPort("tcp", port)
	return err == nil && strings.Trim(port, "0123456789") == ""
}

// sameAddr reports whether two listen addresses are the same host and a
// fixed port (port 0 picks a free one each time: never the same).
func sameAddr(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && pa == pb && pa != "0" && (ha == hb || ha == "" || hb == "")
}

// Server is ticketstream serving: the REST API and the WebSocket gateway
// over the App.
type Server struct {
	App *App
	// Internal serves /metrics and the profiler, for a listener of its
	// own: the public one serves neither.
	Internal http.Handler
	Hub      *app.Hub
	REST     *restapi.Server
	Gateway  *wsgateway.Gateway
	Auth     *jwtauth.Authenticator
	cfg      ServerConfig
	log      *slog.Logger
}

// Run writes the demo tickets if the database is empty and asked for, then
// serves on ln until ctx ends (SIGINT, SIGTERM), then shuts down gracefully:
// no new connections, sockets closed with 1001, REST streams given
// ShutdownTimeout to finish. It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	if err := s.seedDemo(ctx); err != nil {
		ln.Close()
		return err
	}
	if s.Auth.Open() {
		s.log.Warn("auth is off: no --jwt-secret, so anyone who can reach this loopback address sees every ticket", "addr", ln.Addr().String())
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "dashboard", dashboardURL(ln.Addr(), s.cfg.AllowedHosts), "database", gormstore.Redact(s.App.Store.Target()), "auth", !s.Auth.Open())
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); _ = s.Hub.Run(hubCtx) }()
	defer func() { stopHub(); <-hubDone }() // after the sockets: they read from it
	served := make(chan error, 1)
	go func() { served <- s.REST.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String(), "sockets", s.Gateway.OpenConnections(), "rest_streams", s.REST.ActiveStreams())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var wsErr, restErr error
	wg.Go(func() { wsErr = s.Gateway.Shutdown(sctx) })
	wg.Go(func() { restErr = s.REST.Shutdown(sctx) })
	wg.Wait()
	if err := <-served; err != nil {
		return err
	}
	if wsErr != nil || restErr != nil {
		s.log.Warn("shutdown cut connections that did not finish in time", "websocket", wsErr, "rest", restErr)
	}
	s.log.Info("stopped")
	return nil
}

// seedDemo writes DemoTickets demo tickets into an empty database.
func (s *Server) seedDemo(ctx context.Context) error {
	if s.cfg.DemoTickets <= 0 {
		return nil
	}
	n, err := s.App.Store.Count(ctx)
	if err != nil || n > 0 {
		return err
	}
	end := s.cfg.DemoEnd
	if end.IsZero() {
		end = time.Now() // aged like a live help desk's
	}
	gen := demodata.New(1).EndingAt(end)
	if err := s.App.Store.InsertTickets(ctx, gen.Tickets(s.cfg.DemoTickets)); err != nil {
		return fmt.Errorf("write demo tickets: %w", err)
	}
	s.log.Info("the database was empty: wrote demo tickets", "count", s.cfg.DemoTickets)
	return nil
}

// provideAuthenticator refuses open access on anything but loopback.
func provideAuthenticator(cfg ServerConfig) (*jwtauth.Authenticator, error) {
	policy := cfg.Token
	if cfg.JWTSecret != "" {
		policy.Secrets = append([]string{cfg.JWTSecret}, policy.Secrets...)
	}
	a, err := jwtauth.NewAuthenticator(policy)
	if err != nil {
		return nil, err
	}
	if a.Open() && !IsLoopback(cfg.Addr) {
		return nil, domain.Invalidf("jwt-secret", "is required when listening on %s: without it anyone who reaches the server sees every ticket (auth may be off only on a loopback address)", cfg.Addr)
	}
	return a, nil
}

// AllowedHosts is the one rule for which Host headers the public listener
// at addr serves, open telling whether tokens are off:
//   - listed patterns, when given; with tokens off they may name only
//     loopback hosts, since a page rebound to any other name would read
//     every ticket;
//   - else loopback names and addresses when addr is loopback;
//   - else addr's own host; a wildcard addr (":8080", "0.0.0.0:8080",
//     "[::]:8080") has no host to default to and is refused.
func AllowedHosts(addr string, open bool, list []string) (hostguard.Allowlist, error) {
	if len(list) > 0 {
		patterns, err := hostguard.ParsePatterns(list)
		if err != nil {
			return hostguard.Allowlist{}, domain.Invalidf("allowed-hosts", "%v", err)
		}
		for _, p := range patterns {
			if host, _, _ := hostguard.SplitHostPort(p.String()); open && !hostguard.IsLoopback(host) {
				return hostguard.Allowlist{}, domain.Invalidf("allowed-hosts", "may name only loopback hosts (localhost, 127.0.0.1, [::1]) while auth is off: %s would let any page rebound to that name read every ticket", p)
			}
		}
		return hostguard.Of(patterns...), nil
	}
	if IsLoopback(addr) {
		return hostguard.Loopback(), nil
	}
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	if err != nil || host == "" || ip != nil && ip.IsUnspecified() {
		return hostguard.Allowlist{}, domain.Invalidf("allowed-hosts", "is required when listening on the wildcard address %s: name the hosts clients use to reach the server, as tickets.example.com or *.example.com", addr)
	}
	if ip != nil && ip.To4() == nil {
		host = "[" + host + "]"
	}
	p, err := hostguard.ParsePattern(host)
	if err != nil {
		return hostguard.Allowlist{}, domain.Invalidf("allowed-hosts", "the listen host is not a host pattern (%v): set the hosts clients use", err)
	}
	return hostguard.Of(p), nil
}

// internalHosts are the Host headers the internal listener at addr serves:
// loopback names, any IP address (a scraper addresses it by IP, and a
// rebound page never sends an IP literal), and addr's own host name.
func internalHosts(addr string) hostguard.Allowlist {
	hosts := hostguard.Loopback().WithIPLiterals()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if p, err := hostguard.ParsePattern(host); err == nil && net.ParseIP(host) == nil {
			hosts = hostguard.Of(p).WithLoopback().WithIPLiterals()
		}
	}
	return hosts
}

// IsLoopback reports whether addr (host:port) names only loopback interfaces.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && hostguard.IsLoopback(host)
}

func provideGateway(streamer *app.Streamer, hub *app.Hub, cursors *domain.CursorSealer, auth bearer.Verifier, cfg ServerConfig, log *slog.Logger) (*wsgateway.Gateway, error) {
	return wsgateway.New(streamer, hub, cursors, auth, cfg.WebSocket, log)
}

// The metrics observe the core and the adapters through the interfaces
// each of them declares.
var (
	_ app.StreamObserver      = (*metrics.Metrics)(nil)
	_ wsgateway.Observer      = (*metrics.Metrics)(nil)
	_ gormstore.QueryObserver = (*metrics.Metrics)(nil)
	_ restapi.RequestObserver = (*metrics.Metrics)(nil)
	// Without a token secret the per-token limits are off: the gateway
	// and the REST routes learn that from the authenticator.
	_ bearer.OpenAccess = (*jwtauth.Authenticator)(nil)
)

// provideMetrics makes the server's metrics and has the streamer, the
// database and the sockets report to them.
func provideMetrics(streamer *app.Streamer, hub *app.Hub, store *gormstore.Store, gw *wsgateway.Gateway) *metrics.Metrics {
	m := metrics.New(metrics.Sources{Hub: hub, Streamer: streamer, OpenConnections: gw.OpenConnections})
	streamer.SetObserver(m)
	store.SetQueryObserver(m)
	gw.SetObserver(m)
	return m
}

func provideREST(cfg ServerConfig, streamer *app.Streamer, hub *app.Hub, store restapi.Store, cursors *domain.CursorSealer, auth *jwtauth.Authenticator, gw *wsgateway.Gateway, m *metrics.Metrics, log *slog.Logger) (*restapi.Server, error) {
	pages, err := dashboard.New(cfg.Dashboard)
	if err != nil {
		return nil, err
	}
	hosts, err := AllowedHosts(cfg.Addr, auth.Open(), cfg.AllowedHosts)
	if err != nil {
		return nil, err
	}
	cfg.REST.Hosts = hosts
	rest, err := restapi.New(cfg.REST, streamer, store, cursors, auth, restapi.Mounts{Stream: gw, Pages: pages}, log)
	if err != nil {
		return nil, err
	}
	rest.SetObserver(m)
	rest.SetFeedHealth(hub)
	return rest, nil
}

func newServer(a *App, hub *app.Hub, rest *restapi.Server, gw *wsgateway.Gateway, auth *jwtauth.Authenticator, m *metrics.Metrics, cfg ServerConfig, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	internal := internalapi.New(internalapi.Config{Metrics: m.Handler(), Profiler: cfg.Profiler, Hosts: internalHosts(cfg.InternalAddr)})
	return &Server{App: a, Internal: internal, Hub: hub, REST: rest, Gateway: gw, Auth: auth, cfg: cfg, log: log}, nil
}

// dashboardURL is the address to open the dashboard at, for the log line
// that says the server is up. A wildcard listener is reached by the first
// exact host of allowed (--allowed-hosts, which it requires; a pattern
// such as *.example.com names no one host), else through localhost on this
// machine. Behind a proxy that terminates TLS, the proxy's address is the
// one to open.
func dashboardURL(addr net.Addr, allowed []string) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
		for _, h := range allowed {
			if h = strings.TrimSpace(h); h != "" && !strings.Contains(h, "*") {
				if name, p, err := net.SplitHostPort(h); err == nil {
					return "http://" + net.JoinHostPort(name, p) + "/"
				}
				host = h
				break
			}
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
