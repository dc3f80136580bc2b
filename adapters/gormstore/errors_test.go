package gormstore_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/domain"
)

// fakeRefusingPostgres answers every connection as PostgreSQL does to a wrong
// password. The local server trusts every login, so only a fake can refuse.
func fakeRefusingPostgres(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				backend := pgproto3.NewBackend(conn, conn)
				for {
					msg, err := backend.ReceiveStartupMessage()
					if err != nil {
						return
					}
					if _, ok := msg.(*pgproto3.SSLRequest); ok {
						if _, err := conn.Write([]byte("N")); err != nil {
							return
						}
						continue
					}
					break
				}
				backend.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "postgres"`})
				_ = backend.Flush()
			}()
		}
	}()
	return "postgres://postgres:wrong@" + ln.Addr().String() + "/test?sslmode=disable"
}

func TestOpen_ErrorsAUserCanActOn(t *testing.T) {
	t.Parallel()
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	tests := []struct {
		name     string
		url      func(t *testing.T) string
		code     domain.Code
		mentions string
		maxWait  time.Duration
	}{
		{"unknown scheme", func(*testing.T) string { return "mysql://root@localhost/tickets" }, domain.EInvalid, `unsupported database URL scheme "mysql"`, time.Second},
		{"no scheme", func(*testing.T) string { return "tickets.db" }, domain.EInvalid, "want postgres://", time.Second},
		{"empty sqlite path", func(*testing.T) string { return "sqlite:" }, domain.EInvalid, "needs a file path", time.Second},
		{"wrong password", fakeRefusingPostgres, domain.EUnauthorized, "refused the credentials", 5 * time.Second},
		{"database that does not exist", func(t *testing.T) string {
			pgtest.Require(t)
			return strings.Replace(pgtest.AdminURL(), "/test", "/no_such_database_here", 1)
		}, domain.EInvalid, "does not exist", 5 * time.Second},
		{"server down, bounded retry", func(*testing.T) string {
			return "postgres://postgres@" + closedPort + "/test?sslmode=disable"
		}, domain.EUnavailable, "not reachable after 1.5s", 10 * time.Second},
		{"sqlite directory missing", func(t *testing.T) string {
			return "sqlite:" + filepath.Join(t.TempDir(), "missing", "dir", "tickets.db")
		}, domain.EUnavailable, "does its directory exist", 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, _, err := gormstore.Open(context.Background(), gormstore.Config{URL: tc.url(t), ConnectTimeout: 1500 * time.Millisecond, Migrate: true}, nil)
			if domain.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("Open = %v\nwant a %s error mentioning %q", err, tc.code, tc.mentions)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Fatalf("the error shows the password: %v", err)
			}
			if took := time.Since(start); took > tc.maxWait {
				t.Fatalf("Open took %v to fail, want at most %v", took, tc.maxWait)
			}
		})
	}
}

func TestRedact_HidesEverySecret(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, want string }{
		{"postgres://u:S3cret@h/db", "postgres://u:xxxxx@h/db"},
		{"postgresql://u:S3cret@h:5432/db?sslmode=require", "postgresql://u:xxxxx@h:5432/db?sslmode=require"},
		{"postgres://u@h/db?password=S3cret&sslmode=disable", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"postgres://h/db?sslpassword=S3cret&sslkey=/k/S3cret.key&sslcert=/k/S3cret.crt", "postgres://h/db?sslcert=xxxxx&sslkey=xxxxx&sslpassword=xxxxx"},
		{"postgres://h/db?PassWord=S3cret", "postgres://h/db?PassWord=xxxxx"},
		{"postgres://h/db?pass%77ord=S3cret", "postgres://h/db?password=xxxxx"},
		{"postgres://h/db#S3cret", "postgres://h/db"},
		{"postgres://u:S3cret@h:bad port/db", "(database URL, not shown: it does not parse, and may hold a password)"},
		{"postgres://u:S3cret@h/db?password=%zz", "(database URL, not shown: its query does not parse, and may hold a password)"},
		{"host=h user=u password=S3cret dbname=db", "(database URL, not shown: it does not parse, and may hold a password)"},
		{"postgres:S3cret", "(database URL, not shown: it does not parse, and may hold a password)"},
		{"sqlite:tickets.db", "sqlite:tickets.db"},
		{"postgres://u@h/db?sslmode=disable", "postgres://u@h/db?sslmode=disable"},
	}
	for _, tc := range tests {
		if got := gormstore.Redact(tc.raw); got != tc.want || strings.Contains(got, "S3cret") {
			t.Errorf("Redact(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

// A URL the driver cannot parse is refused without any of its secrets in
// the message: pgx quotes it, hiding only some.
func TestOpen_DriverErrorsHideTheURLsSecrets(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"postgres://u:S3cret@127.0.0.1:1/db?sslmode=bogus&sslkey=/k/S3cret.key",
		"postgres://u@127.0.0.1:1/db?sslmode=bogus&sslpassword=S3cret&password=S3cret",
		"host=127.0.0.1 password=S3cret",
		"S3cret",
	} {
		_, _, err := gormstore.Open(context.Background(), gormstore.Config{URL: raw, ConnectTimeout: time.Second}, nil)
		if err == nil || strings.Contains(err.Error(), "S3cret") {
			t.Errorf("Open(%q) = %v; want an error without the secret", raw, err)
		}
	}
}
