package ticketstream

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ticketstream/ticketstream/adapters/bearer"
	"github.com/ticketstream/ticketstream/adapters/dashboard"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
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
	// Token is the rest of the token policy: the audience, the issuer, the
	// maximum lifetime, and secrets accepted beside JWTSecret (the next or
	// the previous one during a rotation; without JWTSecret the first of
	// them signs).
	Token     jwtauth.Config
	REST      restapi.Config
	WebSocket wsgateway.Options
	// DemoTickets are written into an empty database at start, so that a new
	// user sees data at once; 0 turns it off.
	DemoTickets int
	// ShutdownTimeout is how long running REST streams and open sockets get
	// to finish after SIGINT or SIGTERM.
	ShutdownTimeout time.Duration
}

// Server is ticketstream serving: the REST API and the WebSocket gateway
// over the App.
type Server struct {
	App     *App
	Hub     *app.Hub
	REST    *restapi.Server
	Gateway *wsgateway.Gateway
	Auth    *jwtauth.Authenticator
	cfg     ServerConfig
	log     *slog.Logger
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
	s.log.Info("listening", "addr", ln.Addr().String(), "database", gormstore.Redact(s.App.Store.Target()), "auth", !s.Auth.Open())
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
	gen := demodata.New(1)
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

// IsLoopback reports whether addr (host:port) names only loopback interfaces.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func provideGateway(streamer *app.Streamer, hub *app.Hub, auth bearer.Verifier, cfg ServerConfig, log *slog.Logger) *wsgateway.Gateway {
	return wsgateway.New(streamer, hub, auth, cfg.WebSocket, log)
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

func provideREST(cfg ServerConfig, streamer *app.Streamer, hub *app.Hub, store restapi.Store, auth bearer.Verifier, gw *wsgateway.Gateway, m *metrics.Metrics, log *slog.Logger) (*restapi.Server, error) {
	pages, err := dashboard.New()
	if err != nil {
		return nil, err
	}
	rest, err := restapi.New(cfg.REST, streamer, store, auth, restapi.Mounts{Stream: gw, Metrics: m.Handler(), Pages: pages}, log)
	if err != nil {
		return nil, err
	}
	rest.SetObserver(m)
	rest.SetFeedHealth(hub)
	return rest, nil
}

func newServer(a *App, hub *app.Hub, rest *restapi.Server, gw *wsgateway.Gateway, auth *jwtauth.Authenticator, cfg ServerConfig, log *slog.Logger) *Server {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{App: a, Hub: hub, REST: rest, Gateway: gw, Auth: auth, cfg: cfg, log: log}
}
