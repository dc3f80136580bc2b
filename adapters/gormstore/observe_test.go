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

// A query stopped because its caller left is no failed query, whatever
// PostgreSQL answered pgx's cancel request with; one whose context was
// cancelled for a cause of its own — the hub giving up on a database that
// answers nothing — is, and so is any error under a live context.
func TestCallerLeft_OnlyAPlainCancellationIsNoQueryError(t *testing.T) {
	t.Parallel()
	userRequest := &pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}
	left, leave := context.WithCancel(context.Background())
	leave()
	gaveUp, giveUp := context.WithCancelCause(context.Background())
	giveUp(errors.New("the database answered no page"))
	expired, expire := context.WithTimeout(context.Background(), 0)
	defer expire()
	<-expired.Done()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"the caller left: PostgreSQL's answer to the cancel request", left, userRequest, true},
		{"the caller left: pgx's own error", left, fmt.Errorf("read: %w", context.Canceled), true},
		{"the caller left: the connection closed under the query", left, io.ErrUnexpectedEOF, true},
		{"given up for a cause", gaveUp, userRequest, false},
		{"given up for a cause, pgx's own error", gaveUp, fmt.Errorf("read: %w", context.Canceled), false},
		{"a deadline", expired, userRequest, false},
		{"a statement timeout under a live context", context.Background(), &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, false},
		{"a cancellation beneath a live context", context.Background(), fmt.Errorf("acquire: %w", context.Canceled), true},
		{"a lost connection under a live context", context.Background(), io.ErrUnexpectedEOF, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := callerLeft(tc.ctx, tc.err); got != tc.want {
				t.Fatalf("callerLeft = %v, want %v", got, tc.want)
			}
		})
	}
}
