package gormstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/domain"
)

// dialects are the databases every adapter test runs against.
var dialects = []gormstore.Dialect{gormstore.SQLite, gormstore.Postgres}

// newURL returns the URL of a fresh, empty database of dialect d for t.
func newURL(t testing.TB, d gormstore.Dialect) string {
	t.Helper()
	if d == gormstore.Postgres {
		return pgtest.NewDatabase(t)
	}
	return "sqlite:" + filepath.Join(t.TempDir(), "tickets.db")
}

// openStore opens a migrated store on a fresh database holding tickets.
func openStore(t testing.TB, d gormstore.Dialect, tickets []domain.Ticket, cfg gormstore.Config) *gormstore.Store {
	t.Helper()
	cfg.URL = newURL(t, d)
	cfg.Migrate = true
	s, closeStore, err := gormstore.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Open %s: %v", d, err)
	}
	t.Cleanup(closeStore)
	for len(tickets) > 0 {
		n := min(len(tickets), 5000)
		if err := s.InsertTickets(context.Background(), tickets[:n]); err != nil {
			t.Fatalf("InsertTickets: %v", err)
		}
		tickets = tickets[n:]
	}
	return s
}

func pgtestAdminURL() string { return pgtest.AdminURL() }

// writerConn connects to s's PostgreSQL database on a connection of its
// own: another program's writer, closed when the test ends.
func writerConn(t *testing.T, s *gormstore.Store) *pgx.Conn {
	t.Helper()
	return connect(t, s.Target())
}

// connect opens a connection of the test's own to rawURL.
func connect(t *testing.T, rawURL string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// beginWriter begins a transaction on a writer's own connection (writerConn),
// rolled back when t ends unless committed first.
func beginWriter(t *testing.T, s *gormstore.Store) (pgx.Tx, *pgx.Conn) {
	t.Helper()
	c := writerConn(t, s)
	tx, err := c.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx, c
}

// execer runs a statement: a pgx connection, pool or transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// execEach runs stmts on db in order, each with args, and fails t at the
// first that errs, naming it and, when who is not empty, who ran it.
func execEach(t testing.TB, ctx context.Context, db execer, who string, stmts []string, args ...any) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(ctx, q, args...); err != nil {
			if who != "" {
				t.Fatalf("%s: %s: %v", who, q, err)
			}
			t.Fatalf("%s: %v", q, err)
		}
	}
}
