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
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
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
// answers nothing — is, and so is any error under a live context, and any
// error PostgreSQL raised for a reason of its own.
func TestCallerLeft_OnlyAPlainCancellationIsNoQueryError(t *testing.T) {
	t.Parallel()
	userRequest := &pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}
	statementTimeout := &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}
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
		{"a statement timeout under a live context", context.Background(), statementTimeout, false},
		{"a cancellation beneath a live context", context.Background(), fmt.Errorf("acquire: %w", context.Canceled), true},
		{"a lost connection under a live context", context.Background(), io.ErrUnexpectedEOF, false},
		// The server's own reasons count even when the caller left too.
		{"the caller left as the statement timeout fired", left, statementTimeout, false},
		{"the caller left as a lock timeout passed", left, &pgconn.PgError{Code: "55P03", Message: "canceling statement due to lock timeout"}, false},
		{"the caller left as the server shut down", left, &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, false},
		{"the caller left, wrapped answer to the cancel request", left, fmt.Errorf("read a page: %w", userRequest), true},
		{"the caller left: a cancel request answered in German", left, &pgconn.PgError{Code: "57014", Message: "storniere Anfrage wegen Benutzeranforderung"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := callerLeft(tc.ctx, tc.err); got != tc.want {
				t.Fatalf("callerLeft = %v, want %v", got, tc.want)
			}
		})
	}
}

// PostgreSQL's own answers, not hand-written ones: a statement stopped by
// its statement_timeout counts even when its caller has left by the time
// the error is read, and a statement stopped as a cancel request stops it
// (pg_cancel_backend sends the same signal) does not.
func TestPostgres_CallerLeftTellsTheServersTimeoutFromACancelRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET statement_timeout = '50ms'`); err != nil {
		t.Fatal(err)
	}
	_, timedOut := conn.Exec(ctx, `SELECT pg_sleep(5)`)
	if _, err := conn.Exec(ctx, `SET statement_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	done := make(chan error, 1)
	go func() { _, err := conn.Exec(ctx, `SELECT pg_sleep(5)`); done <- err }()
	var cancelled error
	for cancelled == nil {
		var signalled bool
		err := other.QueryRow(ctx, `SELECT pg_cancel_backend($1) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep%' AND state = 'active'`, conn.PgConn().PID()).Scan(&signalled)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		select {
		case cancelled = <-done: // cancelled, or the sleep ended first
			if cancelled == nil {
				t.Fatal("the sleep ran its 5 s out: it was never seen running to be cancelled")
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
	left, leave := context.WithCancel(ctx)
	leave()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"the statement timeout", timedOut, false},
		{"a cancel request", cancelled, true},
	} {
		var pgErr *pgconn.PgError
		if !errors.As(tc.err, &pgErr) || pgErr.Code != "57014" {
			t.Fatalf("%s: got %v, want PostgreSQL's 57014", tc.name, tc.err)
		}
		if got := callerLeft(left, fmt.Errorf("read a page: %w", tc.err)); got != tc.want {
			t.Errorf("%s (%q), read after the caller left: callerLeft = %v, want %v", tc.name, pgErr.Message, got, tc.want)
		}
	}
}
