package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/cmd/ticketstream/internal/load"
)

func runLoad(ctx context.Context, env *environment, args []string) error {
	var (
		target, metricsURL, token, filters, jsonOut, database string
		sockets, fetchers, ramp                               int
		duration                                              time.Duration
		writeRate                                             float64
		allowRemote, wsCompression, restCompression           bool
	)
	s := newSettings("load", env.stderr)
	s.String(&database, "database", "", "with --write-rate: the server's database, where this run changes tickets")
	s.ownSettings()
	s.String(&target, "target", "http://127.0.0.1:8080", "the server to load: its base URL")
	s.String(&metricsURL, "metrics", "http://127.0.0.1:9464/metrics", "the server's /metrics on its internal listener (--internal-listen), for its memory; empty: not watched")
	s.Int(&sockets, "sockets", 100, "WebSocket dashboards to open")
	s.Int(&fetchers, "rest", 0, "REST clients, each fetching its filter over and over")
	s.Duration(&duration, "duration", 30*time.Second, "how long to run")
	s.Int(&ramp, "ramp", 0, "sockets opened per second; 0 opens them all at once")
	s.String(&filters, "filters", "", "space-separated filters spread over the clients in turn, 'all' for no filter; default: a help desk's mix")
	s.String(&token, "token", "", "bearer token, when the server checks tokens")
	s.Float64(&writeRate, "write-rate", 0, "changes per second this run writes into --database, to measure change latency")
	s.String(&jsonOut, "json", "", "also write the result as JSON to this file (- for standard output)")
	s.Bool(&allowRemote, "allow-remote", false, "allow a target that is not on this machine")
	s.Bool(&wsCompression, "ws-compression", true, "offer permessage-deflate on the sockets, as browsers do; the summary gives the bytes on the wire either way")
	s.Bool(&restCompression, "rest-compression", true, "accept zstd and gzip answers to the REST fetches, as curl --compressed does; the summary gives the bytes on the wire either way")
	if err := s.parse(args); err != nil {
		return err
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: --target (%s) must be a base URL like http://127.0.0.1:8080", errUsage, s.env("target"))
	}
	if err := s.check([]check{
		{"sockets", sockets < 0 || sockets > 50_000, "between 0 and 50000"},
		{"rest", fetchers < 0 || fetchers > 1000, "between 0 and 1000"},
		{"sockets", sockets+fetchers == 0, "more than 0 (or --rest more than 0)"},
		{"duration", duration < time.Second || duration > time.Hour, "between 1s and 1h"},
		{"ramp", ramp < 0, "0 or more"},
		{"write-rate", writeRate < 0 || writeRate > 10_000, "between 0 and 10000"},
		{"database", writeRate > 0 && database == "", "set with --write-rate: the database to write changes into"},
		{"target", !allowRemote && !loopbackHost(u.Hostname()), "on this machine (a loopback address); --allow-remote loads another one — only one you run"},
	}); err != nil {
		return err
	}
	var mu *url.URL
	if metricsURL != "" {
		if mu, err = url.Parse(metricsURL); err != nil || (mu.Scheme != "http" && mu.Scheme != "https") || mu.Host == "" {
			return fmt.Errorf("%w: --metrics (%s) must be a URL like http://127.0.0.1:9464/metrics", errUsage, s.env("metrics"))
		}
	}
	cfg := load.Config{Target: u, Metrics: mu, Token: token, Sockets: sockets, Fetchers: fetchers, Duration: duration, Ramp: ramp, Progress: loadProgress(env),
		DisableCompression: !wsCompression, PlainREST: !restCompression}
	if filters != "" {
		for _, f := range strings.Fields(filters) {
			if f == "all" {
				f = ""
			}
			cfg.Filters = append(cfg.Filters, f)
		}
	}
	if err := raiseOpenFiles(sockets + fetchers + 64); err != nil {
		return err
	}
	if writeRate > 0 {
		var c common
		c.cfg.Database.URL = database
		c.cfg.Database.ConnectTimeout = 10 * time.Second
		c.cfg.Database.StatementTimeout = gormstore.DefaultStatementTimeout
		c.logFormat, c.logLevel = "auto", "warn"
		a, _, cleanup, err := c.openApp(ctx, env, false)
		if err != nil {
			return err
		}
		defer cleanup()
		sim, err := newSimulator(ctx, a, uint64(time.Now().UnixNano()), 100)
		if err != nil {
			return err
		}
		cfg.Writer = func(ctx context.Context) error { return sim.write(ctx, time.Now()) }
		cfg.WriteRate = writeRate
	}
	res, err := load.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if env.stderrIsTTY {
		fmt.Fprintln(env.stderr)
	}
	if err := res.WriteSummary(env.stdout); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if jsonOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		b = append(b, '\n')
		if jsonOut == "-" {
			_, err = env.stdout.Write(b)
		} else {
			err = os.WriteFile(jsonOut, b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("write --json: %w", err)
		}
	}
	return nil
}

// loopbackHost reports whether host names this machine.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// raiseOpenFiles lifts the soft limit on open files to the hard one when
// need is above it, and says so if even that is too low.
func raiseOpenFiles(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // not knowable here: let the dials tell
	}
	if uint64(need) <= lim.Cur {
		return nil
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	if uint64(need) > lim.Cur {
		return fmt.Errorf("%w: %d clients need %d open files, and this process may open at most %d (raise the hard limit: ulimit -Hn)", errUsage, need-64, need, lim.Cur)
	}
	return nil
}

// loadProgress draws the run's progress: redrawn each second on a
// terminal, a line every 5 seconds elsewhere.
func loadProgress(env *environment) func(load.Progress) {
	last := time.Duration(-1)
	return func(p load.Progress) {
		line := fmt.Sprintf("load %3.0fs: %d connected, %d snapshots done, %s rows, %s REST fetches, %s changes, %d errors, server RSS %.0f MB",
			p.Elapsed.Seconds(), p.Connected, p.SnapshotDone, thousands(int(p.Rows)), thousands(int(p.Fetches)), thousands(int(p.Changes)), p.Errors, p.ServerRSS/1e6)
		if env.stderrIsTTY {
			fmt.Fprintf(env.stderr, "\r\033[K%s", line)
			return
		}
		if last < 0 || p.Elapsed-last >= 5*time.Second {
			last = p.Elapsed
			fmt.Fprintln(env.stderr, line)
		}
	}
}
