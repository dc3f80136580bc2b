// Command ticketstream serves support tickets from PostgreSQL (or an
// embedded SQLite file) to live dashboards, and holds the tools around it:
// migrations, demo data, exports.
//
//	ticketstream help
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

// command is one subcommand: its name, a line of help, and what it runs.
type command struct {
	name, summary string
	run           func(ctx context.Context, env *environment, args []string) error
}

// summaryOf returns the help line of the command called name.
func summaryOf(name string) string {
	for _, c := range commands() {
		if c.name == name {
			return c.summary
		}
	}
	return ""
}

func commands() []command {
	return []command{
		{"serve", "serve dashboards (WebSocket) and the REST API; what the binary does with no command", runServe},
		{"migrate", "apply the database schema migrations (or list them with --status)", runMigrate},
		{"seed", "write realistic demo tickets into the database", runSeed},
		{"export", "write the tickets that match a filter to standard output as NDJSON or JSON", runExport},
		{"simulate", "create and update realistic tickets at a given rate, for demos and load", runSimulate},
		{"load", "load a running server with dashboards and REST clients and measure what they get", runLoad},
		{"tune", "re-run the buffer-pool analysis on your tickets and recommend buffer sizes", runTune},
		{"token", "sign a bearer token for a dashboard or a script", runToken},
		{"version", "print the version, the revision it was built from and the Go release", func(_ context.Context, env *environment, args []string) error {
			if err := newSettings("version", env.stderr).parse(args); err != nil {
				return err
			}
			printVersion(env.stdout)
			return nil
		}},
	}
}

// environment is what a command may touch: its streams. Tests swap them.
type environment struct {
	stdout, stderr io.Writer
	stderrIsTTY    bool
	onListen       func(addr string) // tests learn the server's address here
	// onInternalListen learns the internal listener's address (metrics).
	onInternalListen func(addr string)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &environment{stdout: os.Stdout, stderr: os.Stderr, stderrIsTTY: isTerminal(os.Stderr)}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit status: 0 done,
// 1 failed, 2 called wrongly.
func run(ctx context.Context, env *environment, args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "--") && args[0] != "--help" && args[0] != "-help" {
		args = append([]string{"serve"}, args...) // the binary's default: serve
	}
	if isHelp(args[0]) {
		if len(args) > 1 && !isHelp(args[1]) {
			return run(ctx, env, []string{args[1], "--help"})
		}
		printHelp(env.stdout)
		fmt.Fprint(env.stdout, "\nFlags of serve, the default command:\n")
		_ = runServe(ctx, &environment{stdout: env.stdout, stderr: env.stdout}, []string{"--help"})
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(env.stderr, "ticketstream %s: %v\nRun 'ticketstream %s --help' for its flags.\n", c.name, unwrapUsage(err), c.name)
			return 2
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			fmt.Fprintf(env.stderr, "ticketstream %s: interrupted\n", c.name)
			return 1
		}
		fmt.Fprintf(env.stderr, "ticketstream %s: %s\n", c.name, userMessage(err))
		return 1
	}
	fmt.Fprintf(env.stderr, "ticketstream: unknown command %q\nRun 'ticketstream help' for the commands.\n", args[0])
	return 2
}

// isHelp reports whether arg asks for help rather than naming a command.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help"
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `ticketstream pushes support tickets from PostgreSQL (or an embedded SQLite
file) to live dashboards.

Usage:
  ticketstream [command] [flags]     (no command: serve)

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `  help      show this help, or a command's: ticketstream help seed

Every flag can also be set with an environment variable: --database is
TICKETSTREAM_DATABASE, --batch-size is TICKETSTREAM_BATCH_SIZE, and so on;
a flag given on the command line wins. 'ticketstream <command> --help' lists
a command's flags with their defaults.
`)
}

// userMessage is what a person sees for err: the domain message for our own
// errors, the full chain otherwise.
func userMessage(err error) string {
	var derr *domain.Error
	if errors.As(err, &derr) {
		if derr.Param != "" && derr.Param != "database" {
			return derr.Param + ": " + derr.Message
		}
		return derr.Message
	}
	return err.Error()
}

func unwrapUsage(err error) string {
	msg := err.Error()
	const prefix = "usage: "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}

// common are the settings every command that opens the database shares.
type common struct {
	cfg       ticketstream.Config
	logFormat string
	logLevel  string
}

func (c *common) register(s *settings) {
	db := &c.cfg.Database
	s.String(&db.URL, "database", gormstore.DefaultURL, "database URL: postgres://user:pass@host/db or sqlite:PATH")
	s.Int(&db.MaxOpenConns, "db-max-conns", 0, "most open database connections (0: 16 for PostgreSQL, 8 for SQLite)")
	s.Duration(&db.StatementTimeout, "db-statement-timeout", gormstore.DefaultStatementTimeout, "longest a single statement may run on the server")
	s.Duration(&db.ConnectTimeout, "db-connect-timeout", gormstore.DefaultConnectTimeout, "how long to keep retrying an unreachable database at start")
	s.String(&c.logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal, else json)")
	s.String(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// registerStream adds the settings of the streaming core, for the commands
// that stream tickets (serve, export, tune); the others leave them at
// their defaults.
func (c *common) registerStream(s *settings) {
	st := &c.cfg.Stream
	s.Int(&st.InitialCapacity, "initial-capacity", app.DefaultInitialCapacity, "initial capacity in bytes of a pooled chunk buffer")
	s.Int(&st.ChunkThreshold, "chunk-threshold", app.DefaultChunkThreshold, "a chunk is sent as soon as it holds more than this many bytes")
	s.Int(&st.BatchSize, "batch-size", app.DefaultBatchSize, "tickets read from the database per batch")
}

// validate refuses log settings it cannot use and the database and stream
// settings their own Validate refuses, naming the setting.
func (c *common) validate() error {
	if err := checkSettings([]check{
		{"log-format", c.logFormat != "auto" && c.logFormat != "text" && c.logFormat != "json", "text, json or auto"},
		{"log-level", parseLevel(c.logLevel) == nil, "debug, info, warn or error"},
	}); err != nil {
		return err
	}
	if err := settingError(c.cfg.Database.Validate()); err != nil {
		return err
	}
	return settingError(c.cfg.Stream.Validate())
}

func parseLevel(s string) *slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return nil
	}
	return &l
}

// logger returns the slog.Logger the settings ask for, writing to stderr.
func (c *common) logger(env *environment) *slog.Logger {
	opts := &slog.HandlerOptions{Level: *parseLevel(c.logLevel), ReplaceAttr: readableDurations}
	if c.logFormat == "json" || (c.logFormat == "auto" && !env.stderrIsTTY) {
		return slog.New(slog.NewJSONHandler(env.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(env.stderr, opts))
}

// readableDurations logs durations as Go writes them (1.5s, 47.48ms):
// slog's JSON handler would give nanoseconds.
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// openApp builds the App; migrate says whether to apply pending migrations.
func (c *common) openApp(ctx context.Context, env *environment, migrate bool) (*ticketstream.App, *slog.Logger, func(), error) {
	log := c.logger(env)
	cfg := c.cfg
	cfg.Database.Migrate = migrate
	a, cleanup, err := ticketstream.InitializeApp(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	log.Debug("database open", "database", gormstore.Redact(cfg.Database.URL), "dialect", a.Store.Dialect())
	return a, log, cleanup, nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// elapsed formats a duration for people: 1.2s, 350ms.
func elapsed(d time.Duration) string {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
