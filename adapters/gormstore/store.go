package gormstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// Config says which database to open and how to use it.
type Config struct {
	// URL is postgres://… or sqlite:PATH; empty means DefaultURL.
	URL string
	// MaxOpenConns bounds the connection pool. Streams hold a connection only
	// while a batch is read, so a few serve many clients. Default 16
	// (PostgreSQL) or 8 (SQLite: one writer, readers under WAL).
	MaxOpenConns int
	// StatementTimeout stops any single statement that runs longer, on the
	// server (PostgreSQL's statement_timeout). One keyset batch is one
	// statement, so a long stream is never cut by it. Default 30s.
	StatementTimeout time.Duration
	// ConnectTimeout is how long Open keeps retrying a database that is not
	// reachable yet (starting up, restarting) before it gives up. Default 30s.
	ConnectTimeout time.Duration
	// Migrate applies pending migrations in Open. The server does; tools
	// that must not change the schema do not.
	Migrate bool
	// AllowOldSchema opens a database whose schema lacks migrations this
	// binary knows, for tools that only inspect it (migrate --status).
	// Without it, Open refuses such a database.
	AllowOldSchema bool
}

// Defaults of Config.
const (
	DefaultStatementTimeout = 30 * time.Second
	DefaultConnectTimeout   = 30 * time.Second
)

// Validate reports a negative pool size or timeout, naming its setting:
// zero means the default, a negative value is an error. The URL is checked
// by Open, which knows the schemes.
func (c Config) Validate() error {
	if c.URL != "" {
		if _, err := parseURL(c.URL); err != nil {
			return err
		}
	}
	if c.MaxOpenConns < 0 {
		return domain.Invalidf("db-max-conns", "must be 0 (the default) or more, got %d", c.MaxOpenConns)
	}
	for _, f := range []struct {
		v     time.Duration
		param string
	}{{c.StatementTimeout, "db-statement-timeout"}, {c.ConnectTimeout, "db-connect-timeout"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or a positive duration, got %s", f.v)
		}
	}
	return nil
}

// feedPageWaits is how many statements of one page of the change feed
// (readChangePage's batch) can each wait up to the statement timeout: the
// kept-history check, the snapshot, and the two lists.
const feedPageWaits = 4

// FeedPageTimeout is the longest one page of the change feed can take on
// a PostgreSQL server that answers: each of its statements that can wait
// (on a lock, on a slow disk) is stopped at the statement timeout.
func (c Config) FeedPageTimeout() time.Duration {
	return feedPageWaits * cmp.Or(c.StatementTimeout, DefaultStatementTimeout)
}

// withDefaults validates c and fills its zero fields but MaxOpenConns,
// whose default depends on the dialect.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.StatementTimeout == 0 {
		c.StatementTimeout = DefaultStatementTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	return c, nil
}

// Store reads and writes tickets in one database. It is safe for concurrent use.
type Store struct {
	eng     engine // what the database does its own way
	gorm    *gorm.DB
	sql     *sql.DB
	probe   *sql.DB // readiness checks only: see Ready
	log     *slog.Logger
	target  target
	applied []Migration // applied by Open
	url     string
	obs     QueryObserver // nil: none
	sortIdx sortIndexSet  // the operator's sort indexes, as last listed
}

var _ ports.TicketSource = (*Store)(nil)

// Open connects to the database cfg names, retrying for up to ConnectTimeout
// while it is unreachable, and migrates it if cfg.Migrate is set. It fails at
// once on what retrying cannot fix: an unknown URL scheme, refused
// credentials, a missing database, a schema newer than this binary.
// The returned func closes the store.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, func(), error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tgt, err := parseURL(cfg.URL)
	if err != nil {
		return nil, nil, err
	}
	s := &Store{log: log, target: tgt, url: cfg.URL}
	s.eng = newEngine(s, tgt.dialect)
	dialector, err := s.eng.openPools(cfg)
	if err != nil {
		return nil, nil, err
	}
	closeStore := func() {
		if err := errors.Join(s.sql.Close(), s.probe.Close()); err != nil {
			log.Warn("close database", "err", err)
		}
	}
	if err := s.waitReachable(ctx, cfg.ConnectTimeout); err != nil {
		closeStore()
		return nil, nil, err
	}
	// gorm starts on the pool once the database answers: its SQLite
	// dialector reads the library's version as it starts, which a file
	// another process is opening can refuse (busy) before the retries
	// of waitReachable.
	if s.gorm, err = gorm.Open(dialector, gormConfig()); err != nil {
		closeStore()
		return nil, nil, fmt.Errorf("open %s through gorm: %w", s.Dialect(), err)
	}
	if err := s.checkSchema(ctx, cfg.Migrate, cfg.AllowOldSchema); err != nil {
		closeStore()
		return nil, nil, err
	}
	return s, closeStore, nil
}

// configureProbe sizes the readiness pool: one connection kept open, so
// that a readiness check neither waits behind client streams in the main
// pool nor connects anew each time; a second for the moments when two
// checks overlap.
func configureProbe(db *sql.DB) {
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(30 * time.Minute)
}

// configurePool keeps as many idle connections as open ones: database/sql's
// default of 2 idle would close and reopen connections under load.
func (s *Store) configurePool(cfg Config, defaultMax int) {
	n := cfg.MaxOpenConns
	if n == 0 {
		n = defaultMax
	}
	s.sql.SetMaxOpenConns(n)
	s.sql.SetMaxIdleConns(n)
	s.sql.SetConnMaxIdleTime(5 * time.Minute)
	s.sql.SetConnMaxLifetime(30 * time.Minute)
}

func gormConfig() *gorm.Config {
	return &gorm.Config{Logger: gormlogger.Discard, SkipDefaultTransaction: true, DisableAutomaticPing: true}
}

// waitReachable pings the database with exponential backoff until it answers,
// timeout passes or ctx ends. Errors that retrying cannot fix end it at once.
func (s *Store) waitReachable(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.sql.PingContext(ctx)
		if err == nil {
			return nil
		}
		if permanent := s.eng.connectError(err); permanent != nil {
			return permanent
		}
		s.log.Warn("database not reachable yet, retrying", "attempt", attempt, "retry_in", delay, "err", redactDriverError(err, s.url))
		select {
		case <-ctx.Done():
			return &domain.Error{Code: domain.EUnavailable, Param: "database",
				Message: fmt.Sprintf("%s database not reachable after %s: %s", s.Dialect(), timeout, redactDriverError(err, s.url))}
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// Target returns the database URL the store was opened with (it may hold a
// password: pass it through Redact before logging it).
func (s *Store) Target() string { return s.url }

// Dialect returns the database's dialect.
func (s *Store) Dialect() Dialect { return s.eng.name() }

// Ping reports whether the database answers now, through the main pool.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sql.PingContext(ctx); err != nil {
		return &domain.Error{Code: domain.EUnavailable, Message: fmt.Sprintf("%s database not reachable: %v", s.Dialect(), err)}
	}
	return nil
}

// Ready reports whether the tickets table can be read now: the readiness
// check. It runs a real query of the table — a ping answers while every
// query fails (a table renamed, permissions revoked) — on connections of
// its own, reserved for it, so that it does not wait behind client streams
// holding every connection of the main pool.
func (s *Store) Ready(ctx context.Context) error {
	var one int
	err := s.probe.QueryRowContext(ctx, "SELECT 1 FROM tickets LIMIT 1").Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return &domain.Error{Code: domain.EUnavailable, Message: fmt.Sprintf("%s database cannot read tickets: %v", s.Dialect(), err)}
	}
	return nil
}

// Count returns how many tickets the database holds.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.gorm.WithContext(ctx).Table("tickets").Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count tickets: %w", err)
	}
	return n, nil
}

// MaxID returns the largest ticket id, or 0 for an empty table.
func (s *Store) MaxID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := s.gorm.WithContext(ctx).Table("tickets").Select("max(id)").Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("max ticket id: %w", err)
	}
	return id.Int64, nil
}

// Gorm returns the gorm handle, for callers that need a query of their own.
func (s *Store) Gorm() *gorm.DB { return s.gorm }
