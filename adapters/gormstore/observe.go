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
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketstream/ticketstream/domain"
)

// The kinds of query a QueryObserver is told about.
const (
	QuerySnapshot = "snapshot" // one keyset batch of a stream
	QueryChanges  = "changes"  // one page of the change feed
	QueryTicket   = "ticket"   // one ticket by id
)

// QueryObserver is told how long each database query took and whether it
// failed, for metrics. Its method runs on the query path: it must return at
// once and should not allocate.
type QueryObserver interface {
	// QueryDone reports a query of kind (QuerySnapshot, …) that took d and
	// failed with err (nil on success). A query cancelled because its
	// caller left is not reported.
	QueryDone(kind string, d time.Duration, err error)
	// RowSkipped reports a ticket row that a query of kind read but could
	// not decode (a value of the wrong type, written by another program),
	// and that the read left out instead of failing.
	RowSkipped(kind string)
}

// SetQueryObserver makes the store report its queries to o. Call it before
// the store is used; nil (the default) reports nothing.
func (s *Store) SetQueryObserver(o QueryObserver) { s.obs = o }

// observe reports a query of kind, run under ctx, that started at start.
// A query whose caller left — ctx cancelled, with no cause of its own — is
// not reported when it ended with the cancellation: pgx stops it with a
// cancel request, and PostgreSQL answers that with an error (57014,
// "canceling statement due to user request") that is not the database's
// failing. An error the server raised for its own reason is reported all
// the same (see callerLeft). A
// dashboard that hung up mid-snapshot counted as a failed query. A read
// cancelled with a cause (the hub giving up on a database that answers
// nothing) is reported.
func (s *Store) observe(ctx context.Context, kind string, start time.Time, err error) {
	if s.obs == nil || err != nil && callerLeft(ctx, err) {
		return
	}
	s.obs.QueryDone(kind, time.Since(start), err)
}

// callerLeft reports whether a query under ctx that failed with err was
// stopped because its caller left: ctx was cancelled with no cause of its
// own, or, while ctx lives, err is a cancellation of some context beneath.
//
// An error PostgreSQL raised for a reason of its own is never the caller's
// leaving, even when the caller left too: a lock timeout, a serialization
// failure, a server shutting down, or a statement timeout that fired just
// as a dashboard hung up — the moment a slow database makes users reload.
// Only the answer to a cancel request (57014 for any reason but the
// statement timeout) is the caller's.
func callerLeft(ctx context.Context, err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !isCancelRequestAnswer(pgErr) {
		return false
	}
	if cause := context.Cause(ctx); cause != nil {
		return errors.Is(cause, context.Canceled)
	}
	return errors.Is(err, context.Canceled)
}

// isCancelRequestAnswer reports whether e is how PostgreSQL answers a
// cancel request: 57014 (query_canceled), which it also raises for a
// statement timeout. The two differ only in the message, which the server
// writes in its lc_messages language; a timeout's message in another
// language is taken for a cancel request's answer, as it was before.
func isCancelRequestAnswer(e *pgconn.PgError) bool {
	return e.Code == "57014" /* query_canceled */ && !strings.Contains(e.Message, "statement timeout")
}

// errUnavailable marks a lost or refused database connection.
var errUnavailable = &domain.Error{Code: domain.EUnavailable, Message: "database unavailable"}

// unavailable wraps err as EUnavailable when the database cannot serve it
// now — its connection was lost or could not be made (a server
// restarting, a network cut), or the server stopped the statement — so
// that callers tell clients to come back later (503, close 1013) instead
// of reporting an internal error. Other errors are returned as they are.
//
// A statement the server stopped ran past --db-statement-timeout, waited
// past a lock timeout (behind a migration's lock, say), or was cancelled
// by an administrator: run again later, it may well finish, and it is not
// the server's bug. The message says which, in PostgreSQL's words; the
// REST log and the socket's log keep the whole error.
func unavailable(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		domain.ErrorCode(err) == domain.EUnavailable {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "57014" || pgErr.Code == "55P03") {
		// 57014: query_canceled, whatever the reason (statement_timeout or
		// pg_cancel_backend; our own cancels come with a done context,
		// whose callers have left). 55P03: lock_not_available.
		stopped := &domain.Error{Code: domain.EUnavailable, Message: "database busy: " + pgErr.Message}
		return fmt.Errorf("%w: %w", stopped, err)
	}
	if !connectionLost(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errUnavailable, err)
}

// connectionLost reports whether err says the connection to the database
// was lost or could not be made.
func connectionLost(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
		pgErr      *pgconn.PgError
	)
	lost := errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err)
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P01-03: the server shutting down,
		// crashed, or not accepting connections yet; 53300: every
		// connection slot taken (by other programs, or other replicas) —
		// all of them pass. Any other refusal (a wrong password, a
		// missing database) is not for a client to wait out.
		lost = strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" ||
			pgErr.Code == "53300"
	}
	return lost
}
