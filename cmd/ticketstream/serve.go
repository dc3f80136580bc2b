package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/dashboard"
	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/app"
)

// DefaultListen is where the server listens unless told otherwise: loopback,
// so that the zero-setup run exposes nothing.
const DefaultListen = "127.0.0.1:8080"

// DefaultInternalListen is where /metrics (and the profiler, when asked
// for) are served unless told otherwise: loopback, on a port of its own —
// not 9090, where a Prometheus on the same machine listens.
const DefaultInternalListen = "127.0.0.1:9464"

// splitList splits a comma-separated setting, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func runServe(ctx context.Context, env *environment, args []string) error {
	var c common
	var origins, hosts, debugAddr string
	srv := &c.cfg.Server
	rest, ws := restapi.DefaultConfig(), wsgateway.DefaultOptions()
	s := newSettings("serve", env.stderr)
	c.register(s)
	c.registerStream(s)
	s.String(&srv.Addr, "listen", DefaultListen, "address to listen on; auth may be off only on a loopback address")
	var tokens tokenPolicy
	tokens.register(s, "HS256 secret (32+ bytes) for bearer tokens; no secret turns auth off, allowed on loopback only")
	s.String(&hosts, "allowed-hosts", "", "comma-separated Host names the server answers (exact, optional :port, or *.example.com); others get 421. Default: loopback names on a loopback --listen, else the --listen host; required with a wildcard --listen")
	s.String(&origins, "allowed-origins", "", "comma-separated host patterns whose pages may open a dashboard socket (besides this host): exact hosts, as dash.example.com, or *.example.com for its subdomains (not example.com itself)")
	s.Int(&ws.MaxConnections, "max-connections", ws.MaxConnections, "open WebSocket connections; beyond, upgrades get 503")
	s.Int(&ws.MaxConnectionsPerToken, "max-connections-per-token", ws.MaxConnectionsPerToken, "open WebSocket connections of one token (off without --jwt-secret); beyond, upgrades get 429; 0: the default")
	s.Int(&ws.MaxConnectionsPerAddress, "max-connections-per-address", ws.MaxConnectionsPerAddress, "open WebSocket connections of one client address (the TCP peer's: behind a proxy, the proxy's); beyond, upgrades get 429; 0: the default")
	s.Int(&ws.SubscribeBurst, "subscribe-burst", ws.SubscribeBurst, "subscribe messages a socket may send at once; past it and --subscribes-per-second, it is closed with 1008; 0: the default")
	s.Float64(&ws.SubscribesPerSecond, "subscribes-per-second", ws.SubscribesPerSecond, "subscribe messages a socket may send per second after its burst; 0: the default")
	s.Int(&ws.QueueChunks, "queue-chunks", ws.QueueChunks, "messages that may wait for a slow WebSocket client")
	s.Duration(&ws.WriteTimeout, "write-timeout", ws.WriteTimeout, "how long a WebSocket client may keep its queue full before it is closed with 1013 and a resume cursor; 0: the default")
	s.Duration(&rest.WriteTimeout, "rest-write-timeout", rest.WriteTimeout, "how long a REST client may stall the write of one chunk of a response before it is dropped; 0: the default")
	s.Duration(&ws.PingInterval, "ping-interval", ws.PingInterval, "how often idle sockets are pinged")
	wsCompression := true
	s.Bool(&wsCompression, "ws-compression", wsCompression, "negotiate permessage-deflate with WebSocket clients that offer it (browsers do), without context takeover; false sends every message uncompressed")
	s.Int(&ws.CompressionThreshold, "ws-compression-threshold", ws.CompressionThreshold, "bytes below which a WebSocket message goes uncompressed even where compression is negotiated (compressing a small message costs more CPU than it saves); 0: the default")
	s.Bool(&ws.CompressLiveChanges, "ws-compress-live", ws.CompressLiveChanges, "compress live changes too (those above the threshold) where compression is negotiated; by default only snapshots and catch-ups are, since a live change is compressed once per socket")
	var maxMessage int
	s.Int(&maxMessage, "max-message-bytes", int(ws.MaxMessageBytes), "largest client message; larger closes the socket with 1009")
	s.Int(&rest.MaxStreamsPerToken, "max-streams-per-token", rest.MaxStreamsPerToken, "running REST streams (GET /v1/tickets) of one token (off without a secret); beyond, 429; 0: the default")
	s.Int(&rest.MaxStreamsPerAddress, "max-streams-per-address", rest.MaxStreamsPerAddress, "running REST streams of one client address (the TCP peer's: behind a proxy, the proxy's); beyond, 429; 0: the default")
	s.Duration(&rest.FeedStaleAfter, "ready-feed-stale-after", rest.FeedStaleAfter, "/readyz answers 503 when the change feed has not been read successfully for this long (at least twice --poll-interval); 0: the default")
	s.Int(&rest.MaxRows, "max-rows", rest.MaxRows, "most tickets in one REST response; page with cursor beyond")
	s.String(&rest.Compression, "rest-compression", rest.Compression, "content codings offered for REST ticket lists and larger bodies, as the client's Accept-Encoding accepts: zstd,gzip, one of them, or off (a proxy in front compresses); empty: the default")
	live := &c.cfg.Live
	dl := app.DefaultHubConfig()
	s.Duration(&live.PollInterval, "poll-interval", dl.PollInterval, "how often the change feed is read for live changes: the floor of their latency, and one small query per interval; at most half --stall-warning and half --ready-feed-stale-after")
	s.Int(&live.QueueBytes, "live-queue-bytes", dl.QueueBytes, "bytes of live changes that may wait for one dashboard; beyond, after coalescing, it is closed with 1013 to resume")
	s.Int(&live.KeepVersionsBytes, "live-keep-versions-bytes", dl.KeepVersionsBytes, "while less than this waits for a dashboard, it gets every version of a ticket; further behind, only the latest (1: always only the latest)")
	var budgetMiB int
	s.Int(&budgetMiB, "live-memory-budget-mib", int(dl.MemoryBudget>>20), "MiB that all dashboards' live views and queues may keep together; a dashboard that would pass it is closed with 1013")
	s.Duration(&live.Retention, "change-retention", dl.Retention, "how long deletions stay in the change log, so that a dashboard away for less resumes without a fresh snapshot")
	s.Duration(&live.StallWarning, "stall-warning", dl.StallWarning, "count the change feed as stalled when not read this long (at least 1s, and twice --poll-interval); warn of a writing transaction open this long (it holds back no delivery)")
	s.Duration(&live.ReadTimeout, "feed-read-timeout", 0, "give a read of the change feed up, and retry it on a fresh connection, when the database answers nothing for this long (a network that stopped forwarding); 0: the larger of 3x --stall-warning and 4x --db-statement-timeout + 5s (a page of the feed is up to four statements that may each wait that long)")
	s.String(&srv.InternalAddr, "internal-listen", DefaultInternalListen, "address of the internal listener: /metrics, and the profiler with --profiler; never on --listen. Empty: off")
	s.Bool(&srv.Profiler, "profiler", false, "serve Go's profiler (/debug/pprof/, without cmdline) on --internal-listen, which must then be loopback")
	s.String(&debugAddr, "debug-listen", "", "removed: the profiler is on --internal-listen with --profiler")
	s.String(&srv.CursorKeyFile, "cursor-key-file", "", "file holding the key that seals cursors (32+ bytes), the same for every replica; empty: a random key stored in the database")
	s.Int(&srv.DemoTickets, "demo-tickets", 5000, "demo tickets written into an empty database at start; 0 turns it off")
	s.Duration(&srv.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long running streams get to finish on SIGINT/SIGTERM")
	var sla string
	s.String(&sla, "sla", dashboard.DefaultSLA().String(), "the dashboard's SLA targets per priority, first response/resolution counted from creation, in m, h, d or w; priorities not given keep their default")
	if err := s.parse(args); err != nil {
		return err
	}
	var err error
	if srv.Dashboard.SLA, err = dashboard.ParseSLA(sla); err != nil {
		return settingError(err)
	}
	if err := c.validate(); err != nil {
		return err
	}
	if srv.Token, err = tokens.policy(); err != nil {
		return err
	}
	if debugAddr != "" {
		return fmt.Errorf("%w: --debug-listen (%s) must be unset: the profiler moved to --internal-listen (loopback by default) with --profiler", errUsage, envName("debug-listen"))
	}
	ws.MaxMessageBytes = int64(maxMessage)
	ws.DisableCompression = !wsCompression
	live.MemoryBudget = int64(budgetMiB) << 20
	ws.AllowedOrigins = splitList(origins)
	srv.AllowedHosts = splitList(hosts)
	srv.REST, srv.WebSocket = rest, ws
	// The constructors check every setting again; checking here refuses a
	// bad one before the database is opened, as a usage error.
	if err := settingError(c.cfg.Validate()); err != nil {
		return err
	}
	c.cfg.Database.Migrate = true

	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	}
	log := c.logger(env)
	warnSecretsOnCommandLine(s, c.cfg.Database.URL, log)
	server, cleanup, err := ticketstream.InitializeServer(ctx, c.cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer cleanup()
	if srv.InternalAddr != "" {
		stopInternal, err := startInternal(srv.InternalAddr, server.Internal, log, env.onInternalListen)
		_, fromEnv := os.LookupEnv(envName("internal-listen"))
		switch {
		case err == nil:
			defer stopInternal()
		case !s.given("internal-listen") && !fromEnv:
			// The zero-setup run must start even when the default port is
			// taken (a second server on this machine): without metrics, said
			// loudly, rather than not at all.
			log.Warn("no internal listener: metrics are not served; set --internal-listen to a free address", "err", err)
		default:
			ln.Close()
			return err
		}
	}
	if env.onListen != nil {
		env.onListen(ln.Addr().String())
	}
	return server.Run(ctx, ln)
}

func runToken(_ context.Context, env *environment, args []string) error {
	var teams, subject string
	var ttl time.Duration
	var tokens tokenPolicy
	s := newSettings("token", env.stderr)
	tokens.register(s, "the server's HS256 secret")
	s.ownSettings()
	s.String(&teams, "teams", "", "comma-separated teams the token may see, or * for all")
	s.String(&subject, "subject", "dashboard", "who the token is for (its sub claim)")
	s.Duration(&ttl, "ttl", defaultTokenTTL, "how long the token is valid; at most --jwt-max-lifetime")
	if err := s.parse(args); err != nil {
		return err
	}
	policy, err := tokens.policy()
	if err != nil {
		return err
	}
	if s.given("jwt-secret") {
		fmt.Fprintln(env.stderr, "warning: the secret was given with --jwt-secret, which every local user can read in ps: use TICKETSTREAM_JWT_SECRET or --jwt-secret-file")
	}
	var list []string
	for _, t := range strings.Split(teams, ",") {
		if t = strings.TrimSpace(t); t != "" {
			list = append(list, t)
		}
	}
	if ttl == 0 {
		ttl = defaultTokenTTL // zero means the default, as for every setting
	}
	token, err := jwtauth.IssueToken(policy, jwtauth.Grant{Subject: subject, Teams: list, TTL: ttl})
	if err != nil {
		return fmt.Errorf("%w: %s", errUsage, userMessage(err))
	}
	fmt.Fprintln(env.stdout, token)
	return nil
}
