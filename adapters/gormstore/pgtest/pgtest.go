// Package pgtest gives each test a fresh PostgreSQL database of its own, so
// that test packages run in parallel without seeing each other's rows.
//
// The server is TICKETSTREAM_TEST_POSTGRES (a postgres:// URL whose database
// is used only to create and drop the test ones), by default the local
// postgres@127.0.0.1:5432/test. When it cannot be reached a test skips with
// how to start it — except under CI=true, where it fails: CI must never pass
// by skipping the database tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
func Require(t testing.TB) {
	t.Helper()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, AdminURL())
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		reachErr = err
	})
	if reachErr == nil {
		return
	}
	msg := "PostgreSQL is not reachable at " + redact(AdminURL()) + ": " + reachErr.Error() +
		"\nstart it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start" +
		"\n(or point TICKETSTREAM_TEST_POSTGRES at another server)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NewDatabase creates an empty database for t, drops it (disconnecting any
// leftover sessions) when t ends, and returns its URL.
func NewDatabase(t testing.TB) string {
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
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
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
