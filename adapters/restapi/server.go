// Package restapi is ticketstream's HTTP side, on echo v4: the REST fallback
// (GET /v1/tickets streams a filter's tickets as one JSON document or as
// NDJSON, written in the core's chunks; GET /v1/tickets/{id} fetches one),
// health checks for load balancers, bearer-token checks, JSON errors, and
// the mount point of the WebSocket gateway.
package restapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ticketstream/ticketstream/adapters/bearer"
	"github.com/ticketstream/ticketstream/adapters/hostguard"
	"github.com/ticketstream/ticketstream/adapters/peerlimit"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

// Store is what the REST routes need from the database besides streams.
type Store interface {
	Ticket(ctx context.Context, id int64) (domain.Ticket, error)
	// Ready reports whether tickets can be read now, without waiting
	// behind client streams for a connection.
	Ready(ctx context.Context) error
}

// Config sets the HTTP server's limits.
type Config struct {
	// MaxRows bounds one REST response; a larger limit is refused, and a
	// request without limit gets at most this many rows and a next cursor.
	MaxRows int
	// WriteTimeout bounds each chunk's write, not the whole response. It is
	// the REST side's own: the sockets' is wsgateway.Options.WriteTimeout.
	WriteTimeout time.Duration
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout time.Duration
	// Hosts are the Host headers served; any other gets 421 before any
	// route, page or upgrade sees the request (the DNS rebinding defence).
	// Health checks (/healthz, /readyz) are exempt: a load balancer probes
	// a replica by an address the list cannot know, and they tell nothing.
	// The zero value serves loopback names and addresses only.
	Hosts hostguard.Allowlist
	// MaxStreamsPerToken bounds the running streams (GET /v1/tickets) of
	// one token, so that one client cannot keep every database connection
	// busy; beyond it a request gets 429. It is off when the verifier
	// checks no token. Zero: the default; negative is an error.
	MaxStreamsPerToken int
	// MaxStreamsPerAddress bounds the running streams of one client
	// address (the TCP peer's, never a forwarded-for header; an IPv6
	// address counts by its /64); beyond it a request gets 429. Behind a
	// reverse proxy every client has the proxy's address: raise it there.
	// Zero: the default; negative is an error.
	MaxStreamsPerAddress int
	// FeedStaleAfter is how long the change feed may go without a
	// successful read before /readyz answers 503: dashboards would hear of
	// no change. Zero: the default; negative is an error.
	FeedStaleAfter time.Duration
	// Compression lists the content codings offered for ticket lists and
	// larger bodies, comma-separated: "zstd,gzip" (the default), one of
	// them, or "off". A response is compressed only when the request's
	// Accept-Encoding accepts a coding offered (zstd when both are equally
	// acceptable). Empty: the default.
	Compression string
}

// DefaultConfig holds on a 2-core machine.
func DefaultConfig() Config {
	return Config{MaxRows: 100_000, WriteTimeout: 10 * time.Second, ReadHeaderTimeout: 10 * time.Second,
		MaxStreamsPerToken: 16, MaxStreamsPerAddress: 64, FeedStaleAfter: 30 * time.Second, Compression: "zstd,gzip"}
}

// MaxRowsLimit is the largest MaxRows: a response of more rows is paged.
const MaxRowsLimit = 10_000_000

// Validate reports a setting no server can use, naming it: zero means the
// default of DefaultConfig, a negative value is an error, and MaxRows is
// at most MaxRowsLimit.
func (c Config) Validate() error {
	if c.MaxRows < 0 || c.MaxRows > MaxRowsLimit {
		return domain.Invalidf("max-rows", "must be 0 (the default) or between 1 and %d, got %d", MaxRowsLimit, c.MaxRows)
	}
	for _, f := range []struct {
		v     int
		param string
	}{{c.MaxStreamsPerToken, "max-streams-per-token"}, {c.MaxStreamsPerAddress, "max-streams-per-address"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or more, got %d", f.v)
		}
	}
	for _, f := range []struct {
		v     time.Duration
		param string
	}{{c.WriteTimeout, "rest-write-timeout"}, {c.ReadHeaderTimeout, "read-header-timeout"}, {c.FeedStaleAfter, "ready-feed-stale-after"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or a positive duration, got %s", f.v)
		}
	}
	if _, err := parseCompression(c.Compression); err != nil {
		return err
	}
	return nil
}

// parseCompression parses Config.Compression; "" is the empty set, which
// withDefaults never leaves.
func parseCompression(s string) (codings, error) {
	if strings.TrimSpace(s) == "off" {
		return 0, nil
	}
	var set codings
	for item := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(item) {
		case "gzip":
			set = set.with(codingGzip)
		case "zstd":
			set = set.with(codingZstd)
		case "":
		default:
			return 0, domain.Invalidf("rest-compression", "must be zstd, gzip, both comma-separated, off, or empty (the default), got %q", s)
		}
	}
	if set == 0 && strings.TrimSpace(s) != "" {
		return 0, domain.Invalidf("rest-compression", "must be zstd, gzip, both comma-separated, off, or empty (the default), got %q", s)
	}
	return set, nil
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	d := DefaultConfig()
	for _, f := range []struct{ v, def *int }{{&c.MaxRows, &d.MaxRows}, {&c.MaxStreamsPerToken, &d.MaxStreamsPerToken}, {&c.MaxStreamsPerAddress, &d.MaxStreamsPerAddress}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *time.Duration }{{&c.WriteTimeout, &d.WriteTimeout}, {&c.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&c.FeedStaleAfter, &d.FeedStaleAfter}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if strings.TrimSpace(c.Compression) == "" {
		c.Compression = d.Compression
	}
	return c, nil
}

// streamRetryAfter is what a client refused a stream is told to wait: one
// of its streams must finish first, which takes seconds.
const streamRetryAfter = 5 * time.Second

// RequestObserver is told about every HTTP request, for metrics.
type RequestObserver interface {
	// RequestDone reports a request to route (the route pattern, as
	// "/v1/tickets/:id"; "" for no route) answered with status after d.
	RequestDone(route string, status int, d time.Duration)
}

// Server serves the HTTP API.
type Server struct {
	cfg      Config
	echo     *echo.Echo
	http     *http.Server
	streamer *app.Streamer
	store    Store
	cursors  *domain.CursorSealer
	auth     bearer.Verifier
	log      *slog.Logger
	obs      RequestObserver
	feed     FeedHealth
	limits   *peerlimit.Limits
	started  time.Time
	streams  atomic.Int64
	codings  codings // offered to clients; none when compression is off
}

// Pages serves static pages (the dashboard) at the paths it lists.
type Pages interface {
	http.Handler
	Paths() []string
}

// Mounts are the handlers of other adapters that the HTTP server routes to.
type Mounts struct {
	// Stream is the WebSocket gateway, at /v1/stream.
	Stream http.Handler
	// Pages, if not nil, serves the dashboard at its paths.
	Pages Pages
}

// New returns a Server whose routes stream through streamer, read single
// tickets and readiness from store, check tokens with auth, and hand
// the paths of mounts to their handlers. cursors seals each page's
// next_cursor and opens the cursor a request pages from. Zero fields of
// cfg take their defaults; New returns Validate's EInvalid error for any
// other unusable setting.
func New(cfg Config, streamer *app.Streamer, store Store, cursors *domain.CursorSealer, auth bearer.Verifier, mounts Mounts, log *slog.Logger) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("rest config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// Client addresses come from the socket, never from X-Forwarded-For,
	// which any client can forge.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = errorHandler(log)
	s := &Server{cfg: cfg, echo: e, streamer: streamer, store: store, cursors: cursors, auth: auth, log: log, started: time.Now(),
		limits: peerlimit.New(peerlimit.Config{
			PerToken: cfg.MaxStreamsPerToken, PerAddress: cfg.MaxStreamsPerAddress, CheckTokens: bearer.ChecksTokens(auth),
			TokenSetting: "max-streams-per-token", AddressSetting: "max-streams-per-address",
			Code: "too_many_streams", Noun: "running streams", RetryAfter: streamRetryAfter,
		})}
	// Validated above.
	s.codings, _ = parseCompression(cfg.Compression)
	e.Use(s.requestLog, s.checkHost)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/v1/tickets", s.listTickets)
	e.GET("/v1/tickets/:id", s.getTicket)
	e.GET("/v1/session", s.session)
	e.GET("/v1/openapi.json", s.openAPI)
	e.GET("/v1/stream", echo.WrapHandler(mounts.Stream))
	if mounts.Pages != nil {
		for _, p := range mounts.Pages.Paths() {
			e.GET(p, echo.WrapHandler(mounts.Pages))
		}
	}
	s.http = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		// Go's default, 1 MiB, let anyone who reaches the port pin a
		// megabyte of the server's memory per connection, without a token,
		// until ReadHeaderTimeout; larger headers are answered 431.
		MaxHeaderBytes: MaxHeaderBytes,
		ReadTimeout:    30 * time.Second, // requests have no body
		IdleTimeout:    2 * time.Minute,
		// No WriteTimeout: it would cut long streams. Each chunk gets its own
		// deadline instead (httpSink).
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// MaxHeaderBytes bounds a request's headers: a token, a cookie or two and
// a proxy's additions fit many times over (nginx's own default allows
// 32 KB).
const MaxHeaderBytes = 32 << 10

// SetObserver makes the server report its requests to o. Call it before
// serving; nil (the default) reports nothing.
func (s *Server) SetObserver(o RequestObserver) { s.obs = o }

// Handler returns the server's HTTP handler, Host check included, for
// tests.
func (s *Server) Handler() http.Handler { return s.echo }

// checkHost answers a request for a Host the server does not serve with
// 421 before its handler runs — REST, pages and the socket upgrade alike —
// except the health checks. It runs inside requestLog, so that refusals are
// logged and counted like any request: a proxy that rewrites Host shows up
// at once.
func (s *Server) checkHost(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if p := r.URL.Path; p == "/healthz" || p == "/readyz" || s.cfg.Hosts.Allows(r.Host) {
			return next(c)
		}
		hostguard.Refuse(c.Response(), r.Host)
		return nil
	}
}

// ActiveStreams returns how many REST streams are running.
func (s *Server) ActiveStreams() int { return int(s.streams.Load()) }

// Serve accepts connections on ln until Shutdown; it returns nil then.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// Shutdown stops accepting, lets running requests and REST streams finish
// until ctx ends, then cuts the rest and waits (up to 5s) for their
// handlers to return. WebSocket connections are hijacked,
// so the gateway closes those itself.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
		// Closing the connections makes running streams fail their next
		// write; wait (briefly) for them to return their buffers, so that
		// nothing outlives the server.
		deadline := time.Now().Add(5 * time.Second)
		for s.streams.Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		return fmt.Errorf("shutdown http: %w", err)
	}
	return nil
}

// sessionInfo is what GET /v1/session tells a client about its token.
type sessionInfo struct {
	// Teams the token may see; ["*"] for every team.
	Teams []string `json:"teams"`
	// ExpiresAt is when the token expires; absent when tokens are not
	// checked.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// session answers whether the request's token is accepted and what it
// grants, so that a page can ask for a token (401) or show the teams it may
// filter by and when it must ask again — a WebSocket upgrade refused with
// 401 tells a browser script nothing.
func (s *Server) session(c echo.Context) error {
	scope, _, err := s.scope(c)
	if err != nil {
		return err
	}
	info := sessionInfo{Teams: scope.Teams}
	if scope.AllTeams {
		info.Teams = []string{"*"}
	}
	if !scope.Expires.IsZero() {
		exp := scope.Expires.UTC()
		info.ExpiresAt = &exp
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, info)
}

// scope authenticates the request's bearer token; it returns the token
// too, which identifies the client for the per-token limits.
func (s *Server) scope(c echo.Context) (domain.Scope, string, error) {
	token, _, err := bearer.FromHeader(c.Request())
	if err != nil {
		return domain.Scope{}, "", err
	}
	scope, err := s.auth.Verify(token)
	return scope, token, err
}

// listTickets streams the tickets of the request's filter.
func (s *Server) listTickets(c echo.Context) error {
	scope, token, err := s.scope(c)
	if err != nil {
		return err
	}
	values, err := domain.ParseQueryString(c.Request().URL.RawQuery)
	if err != nil {
		return err
	}
	q, err := domain.ParseQuery(values, s.cursors)
	if err != nil {
		return err
	}
	if q.Window > 0 {
		return domain.Invalidf(domain.ParamWindow, "a window is kept only on a live subscription (the WebSocket, /v1/stream); page a list with sort, limit and cursor")
	}
	switch {
	case q.Limit == 0:
		q.Limit = s.cfg.MaxRows
	case q.Limit > s.cfg.MaxRows:
		return domain.Invalidf(domain.ParamLimit, "at most %d rows per request; page with cursor", s.cfg.MaxRows)
	}
	if q, err = scope.Restrict(q); err != nil {
		return err
	}
	c.Set("filter", filterForLog(q))
	lease, refused := s.limits.Reserve(token, c.Request().RemoteAddr)
	if refused != nil {
		refused.Write(c.Response())
		return nil
	}
	defer lease.Release()
	ndjson := strings.Contains(c.Request().Header.Get("Accept"), "application/x-ndjson")
	sink := newHTTPSink(c.Response(), s.acceptedCoding(c.Response(), c.Request()), ndjson, s.cfg.WriteTimeout, s.cursors)
	s.streams.Add(1)
	defer s.streams.Add(-1)
	defer sink.release() // before the stream counts as done
	sum, err := s.streamer.Stream(c.Request().Context(), q, sink.delimiter(), sink)
	c.Set("rows", sum.Rows)
	c.Set("bytes", sum.Bytes)
	if err != nil {
		if !sink.started {
			if ctxErr := c.Request().Context().Err(); ctxErr != nil {
				return nil // the client left; nobody to answer
			}
			return err
		}
		if c.Request().Context().Err() == nil {
			s.log.Error("stream failed after the response started", "rows", sum.Rows, "err", err)
			sink.fail("the stream failed after " + strconv.Itoa(sum.Rows) + " tickets; resume with the cursor of the last one")
		}
		return nil
	}
	var next nextPage
	switch {
	case sum.Rows < q.Limit:
	case len(q.Sort) > 0:
		next.sort, next.key = q.Sort, sum.LastKey
	default:
		next.after = sum.Last
	}
	return sink.finish(sum, next)
}

// getTicket returns one ticket. A ticket outside the caller's scope is
// reported as not found, so that its existence does not leak.
func (s *Server) getTicket(c echo.Context) error {
	scope, _, err := s.scope(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return domain.Invalidf("id", "must be a positive whole number")
	}
	t, err := s.store.Ticket(c.Request().Context(), id)
	if err == nil && !scope.Allows(t.Team) {
		err = &domain.Error{Code: domain.ENotFound, Param: "id", Message: fmt.Sprintf("no ticket %d", id)}
	}
	if err != nil {
		return err
	}
	body, err := app.AppendTicket(make([]byte, 0, 512), &t)
	if err != nil {
		return fmt.Errorf("encode ticket %d: %w", id, err)
	}
	return s.blob(c, "application/json; charset=utf-8", append(body, '\n'))
}

// requestLog writes one line per request with its id, its filter (never
// the raw query string, which may carry a WebSocket token), rows, bytes,
// duration and status, and reports it to the observer. The id comes from
// the client's X-Request-Id when that is a plain token, else it is made
// here, and is sent back in X-Request-Id.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		dur := time.Since(start)
		if s.obs != nil {
			s.obs.RequestDone(c.Path(), c.Response().Status, dur)
		}
		if c.Path() == "/v1/stream" {
			return nil // the gateway logs its connections
		}
		rows, _ := c.Get("rows").(int)
		bytes, _ := c.Get("bytes").(int64)
		filter, _ := c.Get("filter").(string)
		s.log.Info("request", "id", id, "method", c.Request().Method, "path", c.Request().URL.Path, "filter", filter,
			"status", c.Response().Status, "rows", rows, "bytes", bytes, "dur", dur.Round(time.Microsecond).String())
		return nil
	}
}

// filterForLog is q's filter as a query string, without its cursor: what
// was asked for, not where a page resumed.
func filterForLog(q domain.Query) string {
	v := q.Values()
	v.Del(domain.ParamCursor)
	return v.Encode()
}

// validRequestID accepts what a proxy or a client would send as a request
// id — letters, digits, '-', '_', '.', at most 64 — and nothing that could
// forge a log line.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random hex digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}
