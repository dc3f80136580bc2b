// Package pgtest gives each test a fresh PostgreSQL database of its own, so
// that test packages run in parallel without seeing each other's rows.
//
// The server is TICKETSTREAM_TEST_POSTGRES (a postgres:// URL whose database
// is used only to create and drop the test ones), by default the local
// postgres@127.0.0.1:5432/test; that database is created when the server
// lacks it. When the server cannot be reached, or refuses the tests, a test
// skips saying which and what to do — except under CI=true, where it fails:
// CI must never pass by skipping the database tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultAdminURL is the server the tests use unless
// TICKETSTREAM_TEST_POSTGRES says otherwise.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// AdminURL returns the URL of the database used to create test databases.
func AdminURL() string {
	if u := os.Getenv("TICKETSTREAM_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultAdminURL
}

var (
	reachOnce sync.Once
	reachErr  error
)

// Require skips t (or fails it under CI=true) if PostgreSQL is unreachable.
// A server that is up but lacks the admin URL's database (a fresh install
// has no `test`) gets it created, once, from the server's `postgres`
// database; the message of a failure says which of these went wrong.
func Require(t testing.TB) {
	t.Helper()
	reachOnce.Do(func() { reachErr = reach(AdminURL()) })
	if reachErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(reachErr.Error())
	}
	t.Skip(reachErr.Error())
}

// SQLSTATE codes of PostgreSQL errors Require tells apart.
const (
	invalidCatalogName = "3D000" // the database does not exist
	duplicateDatabase  = "42P04" // CREATE DATABASE of one that exists
)

// connectTimeout bounds each connection attempt of Require: a server that
// is up answers within it even on a busy machine.
const connectTimeout = 15 * time.Second

// reach connects to the admin URL, creating its database when the server
// is up without it, and returns an error that says what to do.
func reach(admin string) error {
	err := ping(admin)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == invalidCatalogName {
		name := DatabaseName(admin)
		if cerr := createDatabase(admin, name); cerr != nil {
			return fmt.Errorf("PostgreSQL at %s is up, but it has no database %q and creating it failed: %v"+
				"\ncreate it with: createdb -h <host> -U <user> %s (or point TICKETSTREAM_TEST_POSTGRES at a database that exists)",
				redact(admin), name, cerr, name)
		}
		err = ping(admin)
	}
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pgErr):
		return fmt.Errorf("PostgreSQL at %s refused the tests: %v"+
			"\n(fix the user, password or database in TICKETSTREAM_TEST_POSTGRES)", redact(admin), err)
	default:
		return fmt.Errorf("PostgreSQL is not reachable at %s: %v"+
			"\nstart it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"+
			"\n(or point TICKETSTREAM_TEST_POSTGRES at another server)", redact(admin), err)
	}
}

// ping opens one connection to url and pings the server through it.
func ping(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// createDatabase creates the database name on admin's server, connected to
// the server's maintenance database `postgres`. Another process creating
// it at the same time is as good.
func createDatabase(admin, name string) error {
	u, err := url.Parse(admin)
	if err != nil {
		return err
	}
	u.Path = "/postgres"
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == duplicateDatabase {
		return nil
	}
	return err
}

// NewDatabase creates an empty database for t, drops it (disconnecting any
// leftover sessions) when t ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return NewDatabaseWith(t, "")
}

// NewDatabaseWith is NewDatabase with options of CREATE DATABASE, such as
// a locale whose collation differs from the server's default.
func NewDatabaseWith(t testing.TB, options string) string {
	t.Helper()
	Require(t)
	name := "ticketstream_test_" + randomHex()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" "+options); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Errorf("pgtest: connect to drop %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("pgtest: admin URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// DatabaseName returns the database part of a postgres:// URL.
func DatabaseName(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// HoldWriterElsewhere opens a writing transaction in a database of its own
// on the server — a batch job, a psql session left in BEGIN — and keeps it
// open until t ends: it holds a transaction id, as every writer of the
// server does.
func HoldWriterElsewhere(t testing.TB) {
	t.Helper()
	OpenWriterElsewhere(t)
}

// OpenWriterElsewhere opens a writing transaction as HoldWriterElsewhere
// does, and returns the function that commits it.
func OpenWriterElsewhere(t testing.TB) (commit func()) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, NewDatabase(t))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	if _, err := c.Exec(ctx, `CREATE TABLE batch_job (n int)`); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatalf("pgtest: begin: %v", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO batch_job VALUES (1)`); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		_ = tx.Rollback(context.Background())
		c.Close(context.Background())
	})
	return func() {
		t.Helper()
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("pgtest: commit: %v", err)
		}
	}
}
