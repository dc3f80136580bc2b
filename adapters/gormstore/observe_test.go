package gormstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketstream/ticketstream/domain"
)

// A database that cannot serve a query now — its connection lost, or the
// statement stopped by its timeout — is told apart from a query that
// failed for good.
func TestUnavailable_TellsADatabaseToWaitOutFromAFailedQuery(t *testing.T) {
	tests := []struct {
		name string
		err  error
		lost bool
	}{
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"bad connection", driver.ErrBadConn, true},
		{"server shutting down", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"server starting", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, true},
		{"connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"a unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"a statement timeout", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, true},
		{"a cancel by an administrator", &pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}, true},
		{"a lock timeout", &pgconn.PgError{Code: "55P03", Message: "canceling statement due to lock timeout"}, true},
		{"a wrapped statement timeout", fmt.Errorf("stream tickets: %w", &pgconn.PgError{Code: "57014"}), true},
		{"a syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"the client left", context.Canceled, false},
		{"any other error", errors.New("scan ticket: bad column"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := unavailable(tc.err)
			if lost := domain.ErrorCode(got) == domain.EUnavailable; lost != tc.lost {
				t.Fatalf("unavailable(%v) = %v: unavailable %v, want %v", tc.err, got, lost, tc.lost)
			}
			if !errors.Is(got, tc.err) {
				t.Fatalf("the cause is lost: %v", got)
			}
			// A stopped statement says why, in PostgreSQL's words.
			var pgErr *pgconn.PgError
			if tc.lost && errors.As(tc.err, &pgErr) && (pgErr.Code == "57014" || pgErr.Code == "55P03") && pgErr.Message != "" {
				var derr *domain.Error
				if !errors.As(got, &derr) || !strings.Contains(derr.Message, pgErr.Message) {
					t.Fatalf("unavailable(%v) says %q; want the database's reason", tc.err, derr.Message)
				}
			}
		})
	}
}
