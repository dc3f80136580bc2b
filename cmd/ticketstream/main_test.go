package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// runCLI runs the command line and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), &environment{stdout: &out, stderr: &errOut}, args)
	return code, out.String(), errOut.String()
}

func sqliteURL(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "t.db") }

func TestCLI_RefusesBadInputWithAClearMessage(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		mentions string
	}{
		{"unknown command", nil, []string{"serv"}, 2, `unknown command "serv"`},
		{"unknown flag", nil, []string{"seed", "--cuont", "5"}, 2, "flag provided but not defined: -cuont"},
		{"flag value not a number", nil, []string{"seed", "--count", "many"}, 2, `invalid value "many" for flag -count`},
		{"count out of range", nil, []string{"seed", "--count", "0"}, 2, "--count (TICKETSTREAM_SEED_COUNT) must be between 1"},
		{"stray argument", nil, []string{"migrate", "now"}, 2, `unexpected argument "now"`},
		{"bad environment value", map[string]string{"TICKETSTREAM_BATCH_SIZE": "lots"}, []string{"export"}, 2, `invalid value "lots" for TICKETSTREAM_BATCH_SIZE (--batch-size)`},
		{"environment value out of range", map[string]string{"TICKETSTREAM_BATCH_SIZE": "-1"}, []string{"export"}, 2, "--batch-size (TICKETSTREAM_BATCH_SIZE) must be 0 (the default) or between 1 and 100000, got -1"},
		{"batch too large", nil, []string{"export", "--batch-size", "100001"}, 2, "--batch-size (TICKETSTREAM_BATCH_SIZE) must be 0 (the default) or between 1 and 100000"},
		{"negative pool", nil, []string{"migrate", "--db-max-conns", "-1"}, 2, "--db-max-conns (TICKETSTREAM_DB_MAX_CONNS) must be 0 (the default) or more"},
		{"negative chunk threshold", nil, []string{"export", "--chunk-threshold", "-1"}, 2, "--chunk-threshold (TICKETSTREAM_CHUNK_THRESHOLD) must be 0 (the default)"},
		{"negative timeout", nil, []string{"migrate", "--db-connect-timeout", "-1s"}, 2, "--db-connect-timeout (TICKETSTREAM_DB_CONNECT_TIMEOUT) must be 0 (the default) or a positive duration, got -1s"},
		{"bad log level", nil, []string{"migrate", "--log-level", "loud"}, 2, "--log-level"},
		{"bad search index", nil, []string{"migrate", "--search-index", "maybe"}, 2, `--search-index: want on or off, got "maybe"`},
		{"search index with --status", nil, []string{"migrate", "--status", "--search-index", "on"}, 2, "--status only lists"},
		{"sort index of an unknown field", nil, []string{"migrate", "--sort-index=-teem"}, 2, `--sort-index: sort: unknown field "teem"`},
		{"sort index of the default order", nil, []string{"migrate", "--drop-sort-index", "updated_at"}, 2, "--drop-sort-index: sort: the schema indexes updated_at already (tickets_order)"},
		{"sort index of an order the schema indexes", nil, []string{"migrate", "--sort-index=-priority,created_at"}, 2, "--sort-index: sort: the schema indexes -priority,created_at already (tickets_sort_urgent)"},
		{"sort index built and dropped at once", nil, []string{"migrate", "--sort-index=assignee", "--drop-sort-index=-assignee"}, 2, "--sort-index and --drop-sort-index: one at a time"},
		{"sort index with --status", nil, []string{"migrate", "--status", "--sort-index", "assignee"}, 2, "--sort-index changes the database; --status only lists"},
		{"unknown database scheme", nil, []string{"migrate", "--database", "mysql://root@localhost/x"}, 2, `--database (TICKETSTREAM_DATABASE) unsupported database URL scheme "mysql"`},
		{"a tool's own setting from the environment", map[string]string{"TICKETSTREAM_SIMULATE_RATE": "0"}, []string{"simulate"}, 2, "--rate (TICKETSTREAM_SIMULATE_RATE) must be between 1"},
		{"export with a bad filter", nil, []string{"export", "--query", "status=opne"}, 2, `--query: status: unknown status "opne"`},
		{"export with an unknown parameter", nil, []string{"export", "--query", "stauts=open"}, 2, "stauts: unknown parameter"},
		{"export with a bad format", nil, []string{"export", "--format", "xml"}, 2, `unknown format "xml"`},
		{"negative poll interval", nil, []string{"serve", "--poll-interval", "-1ms"}, 2, "--poll-interval (TICKETSTREAM_POLL_INTERVAL) must be 0 (the default) or a positive duration, got -1ms"},
		{"poll interval past half the stall warning", nil, []string{"serve", "--poll-interval", "6s"}, 2, "--poll-interval (TICKETSTREAM_POLL_INTERVAL) must be at most half --stall-warning (10s), got 6s"},
		{"stall warning under twice the poll interval", map[string]string{"TICKETSTREAM_STALL_WARNING": "3s"}, []string{"serve", "--poll-interval", "2s"}, 2, "--poll-interval (TICKETSTREAM_POLL_INTERVAL) must be at most half --stall-warning (3s), got 2s"},
		{"poll interval past half the readiness staleness", map[string]string{"TICKETSTREAM_STALL_WARNING": "1m"}, []string{"serve", "--poll-interval", "20s"}, 2, "--poll-interval (TICKETSTREAM_POLL_INTERVAL) must be at most half --ready-feed-stale-after (30s)"},
		{"poll interval that wraps when doubled", nil, []string{"serve", "--poll-interval", "2000000h"}, 2, "--poll-interval (TICKETSTREAM_POLL_INTERVAL) must be at most half --stall-warning (10s), got 2000000h0m0s"},
		{"negative live queue", map[string]string{"TICKETSTREAM_LIVE_QUEUE_BYTES": "-10"}, []string{"serve"}, 2, "--live-queue-bytes (TICKETSTREAM_LIVE_QUEUE_BYTES) must be 0 (the default) or more"},
		{"negative memory for live views", map[string]string{"TICKETSTREAM_LIVE_MEMORY_BUDGET_MIB": "-1"}, []string{"serve"}, 2, "--live-memory-budget-mib (TICKETSTREAM_LIVE_MEMORY_BUDGET_MIB) must be 0 (the default) or more"},
		{"negative retention", nil, []string{"serve", "--change-retention", "-5s"}, 2, "--change-retention (TICKETSTREAM_CHANGE_RETENTION) must be 0 (the default) or a positive duration, got -5s"},
		{"negative socket write timeout", nil, []string{"serve", "--write-timeout", "-1s"}, 2, "--write-timeout (TICKETSTREAM_WRITE_TIMEOUT) must be 0 (the default) or a positive duration, got -1s"},
		{"negative REST write timeout", map[string]string{"TICKETSTREAM_REST_WRITE_TIMEOUT": "-2s"}, []string{"serve"}, 2, "--rest-write-timeout (TICKETSTREAM_REST_WRITE_TIMEOUT) must be 0 (the default) or a positive duration, got -2s"},
		{"negative connections", nil, []string{"serve", "--max-connections", "-1"}, 2, "--max-connections (TICKETSTREAM_MAX_CONNECTIONS) must be 0 (the default) or more, got -1"},
		{"negative queue", nil, []string{"serve", "--queue-chunks", "-1"}, 2, "--queue-chunks (TICKETSTREAM_QUEUE_CHUNKS) must be 0 (the default) or more"},
		{"empty cursor key file", nil, []string{"serve", "--cursor-key-file", os.DevNull}, 2, "--cursor-key-file (TICKETSTREAM_CURSOR_KEY_FILE) holds 0 bytes, want at least 32"},
		{"missing cursor key file", nil, []string{"serve", "--cursor-key-file", "/nonexistent/ticketstream.key"}, 2, "--cursor-key-file (TICKETSTREAM_CURSOR_KEY_FILE) open /nonexistent/ticketstream.key"},
		{"export with an empty cursor key file", nil, []string{"export", "--cursor-key-file", os.DevNull}, 2, "--cursor-key-file (TICKETSTREAM_CURSOR_KEY_FILE) holds 0 bytes, want at least 32"},
		{"queue too long", nil, []string{"serve", "--queue-chunks", "999999999999"}, 2, "--queue-chunks (TICKETSTREAM_QUEUE_CHUNKS) must be 0 (the default) or between 1 and 1024, got 999999999999"},
		{"negative compression threshold", nil, []string{"serve", "--ws-compression-threshold", "-1"}, 2, "--ws-compression-threshold (TICKETSTREAM_WS_COMPRESSION_THRESHOLD) must be 0 (the default) or more, got -1"},
		{"compression setting not a bool", map[string]string{"TICKETSTREAM_WS_COMPRESSION": "sometimes"}, []string{"serve"}, 2, "TICKETSTREAM_WS_COMPRESSION"},
		{"message bound too small", nil, []string{"serve", "--max-message-bytes", "10"}, 2, "--max-message-bytes (TICKETSTREAM_MAX_MESSAGE_BYTES) must be 0 (the default) or between 64 and 1048576, got 10"},
		{"too many rows", nil, []string{"serve", "--max-rows", "-1"}, 2, "--max-rows (TICKETSTREAM_MAX_ROWS) must be 0 (the default) or between 1 and 10000000"},
		{"too many demo tickets", nil, []string{"serve", "--demo-tickets", "-1"}, 2, "--demo-tickets (TICKETSTREAM_DEMO_TICKETS) must be between 0 (none) and 1000000"},
		{"SLA with an unknown priority", nil, []string{"serve", "--sla", "critical=1h/4h"}, 2, `--sla (TICKETSTREAM_SLA) names an unknown priority "critical"`},
		{"SLA without a unit", map[string]string{"TICKETSTREAM_SLA": "urgent=1/4h"}, []string{"serve"}, 2, `--sla (TICKETSTREAM_SLA) urgent first response: want a number and a unit`},
		{"negative shutdown timeout", nil, []string{"serve", "--shutdown-timeout", "-1s"}, 2, "--shutdown-timeout (TICKETSTREAM_SHUTDOWN_TIMEOUT) must be 0 (the default) or a positive duration"},
		{"the old profiler flag", nil, []string{"serve", "--debug-listen", "127.0.0.1:6060"}, 2, "--debug-listen (TICKETSTREAM_DEBUG_LISTEN) must be unset: the profiler moved to --internal-listen (loopback by default) with --profiler"},
		{"public profiler", nil, []string{"serve", "--internal-listen", "0.0.0.0:9090", "--profiler"}, 2, "--internal-listen (TICKETSTREAM_INTERNAL_LISTEN) must be a loopback address with the profiler on"},
		{"internal listener on the public port", nil, []string{"serve", "--listen", "127.0.0.1:8080", "--internal-listen", "127.0.0.1:8080"}, 2, "--internal-listen (TICKETSTREAM_INTERNAL_LISTEN) must be another address than the public listener's 127.0.0.1:8080"},
		{"internal listener not an address", map[string]string{"TICKETSTREAM_INTERNAL_LISTEN": "9090"}, []string{"serve"}, 2, "--internal-listen (TICKETSTREAM_INTERNAL_LISTEN) must be host:port"},
		{"wildcard listen without allowed hosts", nil, []string{"serve", "--listen", "0.0.0.0:0", "--jwt-secret", strings.Repeat("s", 32)}, 2, "--allowed-hosts (TICKETSTREAM_ALLOWED_HOSTS) is required when listening on the wildcard address 0.0.0.0:0"},
		{"IPv6 wildcard listen without allowed hosts", nil, []string{"serve", "--listen", "[::]:0", "--jwt-secret", strings.Repeat("s", 32)}, 2, "--allowed-hosts (TICKETSTREAM_ALLOWED_HOSTS) is required when listening on the wildcard address [::]:0"},
		{"allowed host not a pattern", nil, []string{"serve", "--allowed-hosts", "localhost,ex*ample.com"}, 2, `--allowed-hosts (TICKETSTREAM_ALLOWED_HOSTS) "ex*ample.com": a pattern is a host name`},
		{"open access for a name", nil, []string{"serve", "--allowed-hosts", "dev.example.com"}, 2, "--allowed-hosts (TICKETSTREAM_ALLOWED_HOSTS) may name only loopback hosts"},
		{"glob origin", nil, []string{"serve", "--allowed-origins", "*example.com"}, 2, `--allowed-origins (TICKETSTREAM_ALLOWED_ORIGINS) must be host patterns: "*example.com": a pattern is a host name`},
		{"glob inside an origin", map[string]string{"TICKETSTREAM_ALLOWED_ORIGINS": "dash.example.com, ex*ample.com"}, []string{"serve"}, 2, `--allowed-origins (TICKETSTREAM_ALLOWED_ORIGINS) must be host patterns: "ex*ample.com": a pattern is a host name`},
		{"bracket origin", nil, []string{"serve", "--allowed-origins", "["}, 2, `--allowed-origins (TICKETSTREAM_ALLOWED_ORIGINS) must be host patterns: "[": a pattern`},
		{"public origin with auth off", nil, []string{"serve", "--allowed-origins", "dash.example.com"}, 2, `--allowed-origins (TICKETSTREAM_ALLOWED_ORIGINS) may name only loopback hosts while auth is off`},
		{"origin under a public suffix", map[string]string{"TICKETSTREAM_JWT_SECRET": strings.Repeat("s", 32)}, []string{"serve", "--allowed-origins", "*.github.io"}, 2, `github.io is a public suffix`},
		{"secret twice", map[string]string{"TICKETSTREAM_JWT_SECRET": strings.Repeat("s", 32)}, []string{"serve", "--jwt-secret-file", "/dev/null"}, 2, "--jwt-secret (TICKETSTREAM_JWT_SECRET) must be empty when --jwt-secret-file is given"},
		{"missing secret file", nil, []string{"serve", "--jwt-secret-file", "/nonexistent/secret"}, 2, "--jwt-secret-file (TICKETSTREAM_JWT_SECRET_FILE): open /nonexistent/secret: no such file"},
		{"empty secret file", nil, []string{"serve", "--jwt-secret-file", "/dev/null"}, 2, "--jwt-secret-file (TICKETSTREAM_JWT_SECRET_FILE): /dev/null holds no secret"},
		{"stall warning not a duration", nil, []string{"serve", "--stall-warning", "soon"}, 2, `invalid value "soon" for flag -stall-warning`},
		{"stall warning too short", nil, []string{"serve", "--stall-warning", "1ns"}, 2, "--stall-warning (TICKETSTREAM_STALL_WARNING) must be 0 (the default) or at least 1s, got 1ns"},
		{"negative feed read timeout", nil, []string{"serve", "--feed-read-timeout", "-1s"}, 2, "--feed-read-timeout (TICKETSTREAM_FEED_READ_TIMEOUT) must be 0 (the default) or a positive duration"},
		{"negative per-token limit", nil, []string{"serve", "--max-connections-per-token", "-1"}, 2, "--max-connections-per-token (TICKETSTREAM_MAX_CONNECTIONS_PER_TOKEN) must be 0 (the default) or more"},
		{"negative per-address limit", map[string]string{"TICKETSTREAM_MAX_CONNECTIONS_PER_ADDRESS": "-5"}, []string{"serve"}, 2, "--max-connections-per-address (TICKETSTREAM_MAX_CONNECTIONS_PER_ADDRESS) must be 0 (the default) or more"},
		{"negative subscribe burst", nil, []string{"serve", "--subscribe-burst", "-1"}, 2, "--subscribe-burst (TICKETSTREAM_SUBSCRIBE_BURST) must be 0 (the default) or more"},
		{"subscribe rate not a number", nil, []string{"serve", "--subscribes-per-second", "NaN"}, 2, "--subscribes-per-second (TICKETSTREAM_SUBSCRIBES_PER_SECOND) must be 0 (the default) or a positive number"},
		{"negative per-token stream limit", nil, []string{"serve", "--max-streams-per-token", "-1"}, 2, "--max-streams-per-token (TICKETSTREAM_MAX_STREAMS_PER_TOKEN) must be 0 (the default) or more"},
		{"negative per-address stream limit", map[string]string{"TICKETSTREAM_MAX_STREAMS_PER_ADDRESS": "-1"}, []string{"serve"}, 2, "--max-streams-per-address (TICKETSTREAM_MAX_STREAMS_PER_ADDRESS) must be 0 (the default) or more"},
		{"unknown REST compression", nil, []string{"serve", "--rest-compression", "br"}, 2, `--rest-compression (TICKETSTREAM_REST_COMPRESSION) must be zstd, gzip, both comma-separated, off, or empty (the default), got "br"`},
		{"negative feed staleness", nil, []string{"serve", "--ready-feed-stale-after", "-1s"}, 2, "--ready-feed-stale-after (TICKETSTREAM_READY_FEED_STALE_AFTER) must be 0 (the default)"},
		{"negative token lifetime", nil, []string{"serve", "--jwt-max-lifetime", "-1h"}, 2, "--jwt-max-lifetime (TICKETSTREAM_JWT_MAX_LIFETIME) must be 0 (the default) or a positive duration"},
		{"short secret", map[string]string{"TICKETSTREAM_JWT_SECRET": "short"}, []string{"serve"}, 2, "--jwt-secret (TICKETSTREAM_JWT_SECRET) must be at least 32 bytes"},
		{"blank audience", nil, []string{"serve", "--jwt-audience", " "}, 2, "--jwt-audience (TICKETSTREAM_JWT_AUDIENCE) must be a name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := tc.args
			if !slices.Contains(args, "--database") { // a fresh database unless the case names one
				args = append(args[:len(args):len(args)], "--database", sqliteURL(t))
			}
			code, _, stderr := runCLI(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.mentions) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d mentioning %q", code, stderr, tc.code, tc.mentions)
			}
		})
	}
}

func TestCLI_DatabaseDownIsAClearFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, _, stderr := runCLI(t, "migrate", "--database", "postgres://postgres@"+addr+"/x?sslmode=disable", "--db-connect-timeout", "1s", "--log-level", "error")
	if code != 1 || !strings.Contains(stderr, "database not reachable after 1s") {
		t.Fatalf("exit %d, stderr %q; want exit 1 saying the database is not reachable", code, stderr)
	}
}

func TestCLI_HelpListsCommandsAndFlags(t *testing.T) {
	code, stdout, _ := runCLI(t, "--help")
	for _, want := range []string{"serve", "migrate", "seed", "export", "token", "TICKETSTREAM_DATABASE", "-listen", "default \"127.0.0.1:8080\"", "-jwt-secret", "-max-connections",
		"-jwt-secret-file", "-jwt-audience", "-jwt-max-lifetime", "-max-streams-per-token", "-allowed-hosts", "-internal-listen", "default \"127.0.0.1:9464\"", "-profiler"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Fatalf("help (exit %d) lacks %q:\n%s", code, want, stdout)
		}
	}
	code, _, stderr := runCLI(t, "help", "seed")
	for _, want := range []string{"-count", "-seed", "-database", "TICKETSTREAM_SEED_SEED", "default 10000"} {
		if code != 0 || !strings.Contains(stderr, want) {
			t.Fatalf("seed --help (exit %d) lacks %q:\n%s", code, want, stderr)
		}
	}
}

func TestCLI_SeedThenExport(t *testing.T) {
	urls := map[string]func(t *testing.T) string{"sqlite": sqliteURL, "postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) }}
	for name, newURL := range urls {
		t.Run(name, func(t *testing.T) {
			db := newURL(t)
			code, stdout, stderr := runCLI(t, "seed", "--count", "2500", "--seed", "7", "--database", db)
			if code != 0 || !strings.Contains(stdout, "seeded 2,500 tickets (ids 1–2500)") {
				t.Fatalf("seed: exit %d\n%s%s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, "100%") {
				t.Fatalf("seed showed no progress: %q", stderr)
			}
			code, stdout, stderr = runCLI(t, "seed", "--count", "10", "--database", db)
			if code != 0 || !strings.Contains(stdout, "(ids 2501–2510)") {
				t.Fatalf("a second seed must continue after the existing ids: exit %d\n%s%s", code, stdout, stderr)
			}

			code, stdout, stderr = runCLI(t, "export", "--database", db, "--format", "json", "--query", "status=open&team=billing")
			if code != 0 {
				t.Fatalf("export: exit %d: %s", code, stderr)
			}
			var tickets []domain.Ticket
			if err := json.Unmarshal([]byte(stdout), &tickets); err != nil {
				t.Fatalf("export --format json is not a JSON array: %v", err)
			}
			if len(tickets) == 0 {
				t.Fatal("no open billing tickets exported")
			}
			for _, tk := range tickets {
				if tk.Status != domain.StatusOpen || tk.Team != "billing" {
					t.Fatalf("ticket %d (%s, %s) does not match the filter", tk.ID, tk.Status, tk.Team)
				}
			}

			code, stdout, _ = runCLI(t, "export", "--database", db, "--query", "limit=100")
			if lines := strings.Count(stdout, "\n"); code != 0 || lines != 100 {
				t.Fatalf("export limit=100 as ndjson: exit %d, %d lines", code, lines)
			}

			code, stdout, _ = runCLI(t, "migrate", "--database", db)
			if m := schemaAt.FindStringSubmatch(stdout); code != 0 || strings.Contains(stdout, "applied  ") || m == nil || m[1] != m[2] {
				t.Fatalf("a second migrate must apply nothing: exit %d\n%s", code, stdout)
			}
		})
	}
}

// schemaAt is how migrate reports the schema: at version N of the M known.
var schemaAt = regexp.MustCompile(`schema at version (\d+) of (\d+)`)

func TestCLI_SeedIsDeterministic(t *testing.T) {
	var outputs []string
	for range 2 {
		db := sqliteURL(t)
		if code, _, stderr := runCLI(t, "seed", "--count", "50", "--seed", "42", "--end", "2026-05-01T12:00:00Z", "--database", db); code != 0 {
			t.Fatal(stderr)
		}
		_, stdout, _ := runCLI(t, "export", "--database", db)
		outputs = append(outputs, stdout)
	}
	if outputs[0] != outputs[1] || outputs[0] == "" {
		t.Fatal("the same --seed and --end wrote different tickets")
	}
}

func TestCLI_ServeRefusesOpenAccessOffLoopback(t *testing.T) {
	code, _, stderr := runCLI(t, "serve", "--listen", "0.0.0.0:0", "--database", sqliteURL(t))
	if code != 2 || !strings.Contains(stderr, "--jwt-secret (TICKETSTREAM_JWT_SECRET) must be set when listening on 0.0.0.0:0, not a loopback address") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "serve", "--jwt-secret", "short", "--database", sqliteURL(t))
	if code != 2 || !strings.Contains(stderr, "at least 32 bytes") {
		t.Fatalf("a short secret: exit %d: %s", code, stderr)
	}
}

// TestCLI_ServeIsTheDefaultAndStopsCleanly runs the binary's default command
// on a random port, fetches from it, and interrupts it as SIGINT would.
func TestCLI_ServeIsTheDefaultAndStopsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan string, 1)
	var out bytes.Buffer
	errOut := &portstest.LogBuffer{}
	env := &environment{stdout: &out, stderr: errOut, onListen: func(a string) { addrs <- a }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, env, []string{"--listen", "127.0.0.1:0", "--internal-listen", "", "--database", sqliteURL(t), "--demo-tickets", "100", "--log-format", "json"})
	}()
	var addr string
	select {
	case addr = <-addrs:
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, errOut.String())
	}
	resp, err := http.Get("http://" + addr + "/v1/tickets?limit=3")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Tickets []json.RawMessage `json:"tickets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || len(p.Tickets) != 3 {
		t.Fatalf("GET /v1/tickets: %v, %d tickets", err, len(p.Tickets))
	}
	resp.Body.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited with %d after the interrupt, want 0", code)
	}
}

func TestCLI_TokenSignsAVerifiableToken(t *testing.T) {
	secret := strings.Repeat("s", 32)
	code, stdout, stderr := runCLI(t, "token", "--jwt-secret", secret, "--teams", "billing,support", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	v, _ := jwtauth.NewVerifier(jwtauth.Config{Secrets: []string{secret}})
	scope, err := v.Verify(strings.TrimSpace(stdout))
	if err != nil || strings.Join(scope.Teams, ",") != "billing,support" {
		t.Fatalf("the token verifies as %+v, %v", scope, err)
	}
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "token", "--jwt-secret-file", file, "--teams", "billing")
	if scope, err := v.Verify(strings.TrimSpace(stdout)); code != 0 || err != nil || strings.Join(scope.Teams, ",") != "billing" {
		t.Fatalf("a token signed with the secret from --jwt-secret-file: exit %d, %s, verifies as %+v, %v", code, stderr, scope, err)
	}
	if code, _, stderr := runCLI(t, "token", "--jwt-secret", secret); code != 2 || !strings.Contains(stderr, "teams") {
		t.Fatalf("a token without teams: exit %d: %s", code, stderr)
	}
	// The audience and issuer settings go into the token, and the server's
	// policy under the same settings accepts it.
	next, prev := strings.Repeat("n", 32), strings.Repeat("p", 32)
	file = filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(file, []byte(next+"\n"+prev+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "token", "--jwt-secret-file", file, "--jwt-audience", "ops", "--jwt-issuer", "https://auth.example", "--teams", "*", "--ttl", "2h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	strict, _ := jwtauth.NewVerifier(jwtauth.Config{Secrets: []string{next}, Audience: "ops", Issuer: "https://auth.example"})
	if _, err := strict.Verify(strings.TrimSpace(stdout)); err != nil {
		t.Fatalf("a token signed with the file's first secret, for audience ops: %v", err)
	}
	if _, err := v.Verify(strings.TrimSpace(stdout)); err == nil {
		t.Fatal("a token for audience ops was accepted under the default audience")
	}
	for _, bad := range []struct {
		args     []string
		mentions string
	}{
		{[]string{"--jwt-secret", secret, "--teams", "*", "--ttl", "800h"}, "maximum lifetime"},
		{[]string{"--jwt-secret", secret, "--teams", "*", "--ttl", "2h", "--jwt-max-lifetime", "1h"}, "maximum lifetime"},
		{[]string{"--jwt-secret", secret, "--jwt-secret-file", file, "--teams", "*"}, "--jwt-secret (TICKETSTREAM_JWT_SECRET) must be empty when --jwt-secret-file"},
		{[]string{"--jwt-secret-file", filepath.Join(t.TempDir(), "missing"), "--teams", "*"}, "--jwt-secret-file"},
		{[]string{"--teams", "*"}, "jwt-secret"},
		{[]string{"--jwt-secret", secret, "--teams", strings.Repeat("t,", 65)}, "at most 64"},
		{[]string{"--jwt-secret", secret, "--teams", "*,billing"}, "alone"},
		{[]string{"--jwt-secret", secret, "--teams", "billing", "--subject", strings.Repeat("s", 9000)}, "shorten"},
	} {
		if code, _, stderr := runCLI(t, append([]string{"token"}, bad.args...)...); code != 2 || !strings.Contains(stderr, bad.mentions) {
			t.Fatalf("token %v: exit %d: %s; want exit 2 mentioning %q", bad.args, code, stderr, bad.mentions)
		}
	}
}

func TestCLI_SimulateWritesAtTheRate(t *testing.T) {
	for name, newURL := range map[string]func(t *testing.T) string{"sqlite": sqliteURL, "postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) }} {
		t.Run(name, func(t *testing.T) {
			db := newURL(t)
			if code, _, stderr := runCLI(t, "seed", "--count", "100", "--database", db); code != 0 {
				t.Fatal(stderr)
			}
			code, stdout, stderr := runCLI(t, "simulate", "--rate", "200", "--count", "60", "--updates", "50", "--database", db)
			if code != 0 || !strings.Contains(stdout, "simulated 60 writes") {
				t.Fatalf("simulate: exit %d\n%s%s", code, stdout, stderr)
			}
			_, out, _ := runCLI(t, "export", "--database", db)
			if lines := strings.Count(out, "\n"); lines <= 100 || lines >= 160 {
				t.Fatalf("%d tickets after 60 writes of which about half create", lines)
			}
			last := out[strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")+1:]
			var tk domain.Ticket
			if err := json.Unmarshal([]byte(last), &tk); err != nil || tk.UpdatedAt.Year() < 2026 {
				t.Fatalf("the most recently updated ticket (%v) was not written now: %s", err, last)
			}
			code, _, stderr = runCLI(t, "simulate", "--rate", "0", "--database", db)
			if code != 2 || !strings.Contains(stderr, "--rate") {
				t.Fatalf("a zero rate: exit %d: %s", code, stderr)
			}
		})
	}
}

func TestCLI_TunePrintsTheReportForTheDatabasesTickets(t *testing.T) {
	db := sqliteURL(t)
	if code, _, stderr := runCLI(t, "seed", "--count", "1500", "--database", db); code != 0 {
		t.Fatalf("seed: %s", stderr)
	}
	code, stdout, stderr := runCLI(t, "tune", "--database", db, "--sample", "1000", "--benchtime", "2ms", "--format", "markdown")
	if code != 0 {
		t.Fatalf("tune exit %d: %s", code, stderr)
	}
	for _, want := range []string{"# Buffer pool tuning: sqlite:", "| 1000 | ", "## 3.1 Pool vs no pool (100 rows)", "## 4. Recommendation", "--initial-capacity 51200 --chunk-threshold 32768"} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("the report lacks %q:\n%s", want, stdout)
		}
	}
	for _, want := range []string{"tune: reading up to 1,000 tickets", "tune [ 0/", "100% "} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("the progress lacks %q:\n%s", want, stderr)
		}
	}

	// A filter narrows the sample; one that matches nothing is an error.
	code, stdout, _ = runCLI(t, "tune", "--database", db, "--query", "team=billing", "--benchtime", "1ms")
	if code != 0 || !strings.Contains(stdout, "(team=billing)") {
		t.Fatalf("tune with a filter: exit %d\n%s", code, stdout)
	}
	code, _, stderr = runCLI(t, "tune", "--database", db, "--query", "team=nobody", "--benchtime", "1ms")
	if code != 1 || !strings.Contains(stderr, "no tickets match") {
		t.Fatalf("tune of an empty filter: exit %d, %s", code, stderr)
	}

	for _, tc := range []struct{ args, mentions string }{
		{"--format html", `--format: unknown format "html"`},
		{"--sample 0", "--sample (TICKETSTREAM_TUNE_SAMPLE) must be between 1 and 1000000"},
		{"--benchtime 0s", "--benchtime (TICKETSTREAM_TUNE_BENCHTIME) must be between 1ms and 1m"},
		{"--query status=opne", `--query: status: unknown status "opne"`},
	} {
		args := append([]string{"tune", "--database", db}, strings.Fields(tc.args)...)
		if code, _, stderr := runCLI(t, args...); code != 2 || !strings.Contains(stderr, tc.mentions) {
			t.Errorf("tune %s: exit %d, %s; want 2 mentioning %q", tc.args, code, stderr, tc.mentions)
		}
	}
}

// Every setting of every command is a flag and an environment variable,
// and --help shows both (with the default, when there is one).
func TestCLI_EverySettingHasAnEnvironmentVariable(t *testing.T) {
	flagLine := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
	for _, c := range commands() {
		if c.name == "version" {
			continue
		}
		_, _, help := runCLI(t, c.name, "--help")
		flags := flagLine.FindAllStringSubmatchIndex(help, -1)
		if len(flags) == 0 {
			t.Errorf("%s --help lists no flags:\n%s", c.name, help)
		}
		for i, m := range flags {
			name := help[m[2]:m[3]]
			end := len(help)
			if i+1 < len(flags) {
				end = flags[i+1][0]
			}
			shared, own := "(env "+envName(name)+")", "(env "+envName(c.name+"-"+name)+")"
			if text := help[m[0]:end]; !strings.Contains(text, shared) && !strings.Contains(text, own) {
				t.Errorf("%s --%s: help names neither %s nor %s", c.name, name, shared, own)
			}
		}
	}
}

func TestCLI_LoadMeasuresARunningServer(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole server under load for seconds: skipped under -short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := sqliteURL(t)
	addrs, internalAddrs := make(chan string, 1), make(chan string, 1)
	errOut := &portstest.LogBuffer{}
	env := &environment{stdout: io.Discard, stderr: errOut, onListen: func(a string) { addrs <- a }, onInternalListen: func(a string) { internalAddrs <- a }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, env, []string{"--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0", "--database", db, "--demo-tickets", "500", "--log-level", "warn"})
	}()
	var addr string
	select {
	case addr = <-addrs:
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, errOut.String())
	}
	internalAddr := <-internalAddrs
	defer func() {
		cancel()
		<-done
	}()
	// The server answers once its demo tickets are written: only then may
	// the load's writer pick tickets to change.
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The load runs for a set time and reports what it got done in it. On
	// a busy machine 6 snapshots and a stream of changes may need longer
	// than 8 s: a run that got too little done, without an error, is run
	// again for twice as long, until the test's deadline.
	type loadResult struct {
		Snapshots struct {
			Complete int   `json:"complete"`
			Rows     int64 `json:"rows"`
		} `json:"websocket_snapshots"`
		REST struct {
			Fetches int64 `json:"fetches"`
		} `json:"rest"`
		Changes struct {
			Received, Written int64
			Latency           struct {
				Count int `json:"count"`
			} `json:"latency"`
		} `json:"changes"`
		WebSocket struct {
			Dials        int64 `json:"dials"`
			Compressed   int64 `json:"dials_compressed"`
			MessageBytes int64 `json:"message_bytes_received"`
			WireReceived int64 `json:"wire_bytes_received"`
		} `json:"websocket"`
		Errors map[string]int `json:"errors"`
		Server struct {
			RSSPeak float64 `json:"rss_peak_bytes"`
		} `json:"server"`
	}
	deadline, bounded := portstest.Deadline(t)
	var (
		stdout, stderr string
		res            loadResult
	)
	for d := 8 * time.Second; ; d *= 2 {
		out := filepath.Join(t.TempDir(), "load.json")
		var code int
		code, stdout, stderr = runCLI(t, "load", "--target", "http://"+addr, "--metrics", "http://"+internalAddr+"/metrics", "--sockets", "6", "--rest", "1", "--duration", d.String(),
			"--write-rate", "20", "--database", db, "--filters", "all team=billing status=open,pending", "--json", out)
		if code != 0 {
			t.Fatalf("load exit %d: %s", code, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		res = loadResult{}
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("--json: %v\n%s", err, b)
		}
		// all (500) twice, billing and open/pending once each
		enough := res.Snapshots.Complete == 6 && res.Snapshots.Rows >= 1000 && res.REST.Fetches > 0 && res.Changes.Written > 0 &&
			res.Changes.Received > 0 && res.Changes.Latency.Count > 0 && res.Server.RSSPeak > 0
		if enough || len(res.Errors) != 0 || bounded && time.Now().Add(2*d).After(deadline) {
			break
		}
		t.Logf("a load run of %v got too little done on this machine (%+v): running it for %v", d, res, 2*d)
	}
	for _, want := range []string{"WebSocket snapshots", "6 complete", "on the wire", "compression negotiated on", "REST fetches", "Changes received", "latency (updated_at → received)", "Errors", "none", "Server memory", "RSS peak"} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("the summary lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "load ") || !strings.Contains(stderr, "connected") {
		t.Fatalf("no progress on stderr:\n%s", stderr)
	}
	if res.Snapshots.Complete != 6 || res.Snapshots.Rows < 1000 || res.REST.Fetches == 0 || res.Changes.Written == 0 ||
		res.Changes.Received == 0 || res.Changes.Latency.Count == 0 || len(res.Errors) != 0 || res.Server.RSSPeak == 0 {
		t.Fatalf("result %+v", res)
	}
	// Compression is offered and taken, and the snapshots' 32 KB messages
	// shrink on the wire; without it, the wire carries a little more than
	// the messages (frame headers, the upgrade).
	if ws := res.WebSocket; ws.Dials == 0 || ws.Compressed != ws.Dials || ws.WireReceived == 0 || ws.WireReceived >= ws.MessageBytes {
		t.Fatalf("compressed sockets: %+v", ws)
	}
	plainOut := filepath.Join(t.TempDir(), "plain.json")
	if code, _, stderr := runCLI(t, "load", "--target", "http://"+addr, "--metrics", "", "--sockets", "2", "--duration", "2s", "--filters", "all", "--ws-compression=false", "--json", plainOut); code != 0 {
		t.Fatalf("load --ws-compression=false: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(plainOut)
	if err != nil {
		t.Fatal(err)
	}
	var plain loadResult
	if err := json.Unmarshal(b, &plain); err != nil {
		t.Fatal(err)
	}
	if ws := plain.WebSocket; ws.Dials == 0 || ws.Compressed != 0 || ws.MessageBytes == 0 || ws.WireReceived < ws.MessageBytes {
		t.Fatalf("sockets without compression: %+v", ws)
	}

	for _, tc := range []struct{ args, mentions string }{
		{"--target http://10.1.2.3:8080", "--target (TICKETSTREAM_LOAD_TARGET) must be on this machine"},
		{"--target ftp://localhost", "--target (TICKETSTREAM_LOAD_TARGET) must be a base URL"},
		{"--sockets 0", "--sockets (TICKETSTREAM_LOAD_SOCKETS) must be more than 0"},
		{"--write-rate 5", "--database (TICKETSTREAM_DATABASE) must be set with --write-rate"},
		{"--duration 2h", "--duration (TICKETSTREAM_LOAD_DURATION) must be between 1s and 1h"},
	} {
		if code, _, stderr := runCLI(t, append([]string{"load"}, strings.Fields(tc.args)...)...); code != 2 || !strings.Contains(stderr, tc.mentions) {
			t.Errorf("load %s: exit %d, %s; want 2 mentioning %q", tc.args, code, stderr, tc.mentions)
		}
	}
}

// A taken internal port fails the start when it was asked for, and only
// costs the metrics (with a warning) when it is the default: the
// zero-setup run must start.
func TestCLI_InternalListenerPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, _, stderr := runCLI(t, "serve", "--listen", "127.0.0.1:0", "--internal-listen", taken.Addr().String(), "--database", sqliteURL(t), "--demo-tickets", "0")
	if code != 1 || !strings.Contains(stderr, "internal listener (--internal-listen, TICKETSTREAM_INTERNAL_LISTEN) on "+taken.Addr().String()) {
		t.Fatalf("exit %d: %s", code, stderr)
	}

	if l, err := net.Listen("tcp", DefaultInternalListen); err == nil { // else another process holds it: as good
		defer l.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan string, 1)
	errOut := &portstest.LogBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &environment{stdout: io.Discard, stderr: errOut, onListen: func(a string) { addrs <- a }},
			[]string{"--listen", "127.0.0.1:0", "--database", sqliteURL(t), "--demo-tickets", "0", "--log-format", "json"})
	}()
	select {
	case <-addrs:
	case code := <-done:
		t.Fatalf("serve with the default internal port taken exited with %d: %s", code, errOut.String())
	}
	cancel()
	if code := <-done; code != 0 || !strings.Contains(errOut.String(), "no internal listener: metrics are not served") {
		t.Fatalf("exit %d, log:\n%s", code, errOut.String())
	}
}

// migrate --sort-index builds the index of an order, on either database,
// lists it on every later run, and --drop-sort-index drops it.
func TestCLI_MigrateSortIndex(t *testing.T) {
	for _, url := range []string{sqliteURL(t), pgtest.NewDatabase(t)} {
		for _, step := range []struct {
			args       []string
			want, gone string
		}{
			{[]string{"--sort-index=-team,created_at"}, "sort index: CREATE INDEX tickets_by_team_desc__created_at", ""},
			{[]string{"--sort-index", "assignee"}, "tickets_by_assignee ", ""},
			{nil, "tickets_by_team_desc__created_at", ""},
			{[]string{"--drop-sort-index=-team,created_at"}, "dropped sort index tickets_by_team_desc__created_at", "sort index: CREATE INDEX tickets_by_team_desc__created_at"},
			{[]string{"--drop-sort-index=-team,created_at"}, "no sort index tickets_by_team_desc__created_at to drop", ""},
			{[]string{"--sort-index=columns"}, "built sort index tickets_by_assignee_desc", ""},
			{nil, "sort index: CREATE INDEX tickets_by_priority_desc", ""},
			{[]string{"--drop-sort-index=columns"}, "dropped sort index tickets_by_priority", "sort index: CREATE INDEX tickets_by_status_desc"},
		} {
			args := append([]string{"migrate", "--database", url, "--log-level", "error"}, step.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != 0 || !strings.Contains(stdout, step.want) || (step.gone != "" && strings.Contains(stdout, step.gone)) {
				t.Fatalf("%v: exit %d, stdout %q, stderr %q; want %q, not %q", args, code, stdout, stderr, step.want, step.gone)
			}
		}
	}
}

// migrate --search-index builds and drops PostgreSQL's search index, and
// says on SQLite, which has none, that its searches scan.
func TestCLI_MigrateSearchIndex(t *testing.T) {
	url := pgtest.NewDatabase(t)
	for _, step := range []struct{ arg, want string }{{"on", "search index: on"}, {"on", "search index: on"}, {"off", "search index: off"}, {"", "search index: off"}} {
		args := []string{"migrate", "--database", url, "--log-level", "error"}
		if step.arg != "" {
			args = append(args, "--search-index", step.arg)
		}
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 || !strings.Contains(stdout, step.want) {
			t.Fatalf("migrate --search-index %q: exit %d, stdout %q, stderr %q; want %q", step.arg, code, stdout, stderr, step.want)
		}
	}
	lite := sqliteURL(t)
	code, _, stderr := runCLI(t, "migrate", "--database", lite, "--search-index", "off", "--log-level", "error")
	if code != 2 || !strings.Contains(stderr, "SQLite has no search index") {
		t.Fatalf("SQLite with --search-index off: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(strings.TrimPrefix(lite, "sqlite:")); !os.IsNotExist(err) {
		t.Fatalf("the refused command created or migrated the database (%v)", err)
	}
}
