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

// observe reports a query of kind that started at start.
func (s *Store) observe(kind string, start time.Time, err error) {
	if s.obs == nil || errors.Is(err, context.Canceled) {
		return
	}
	s.obs.QueryDone(kind, time.Since(start), err)
}

// errUnavailable marks a lost or refused database connection.
var errUnavailable = &domain.Error{Code: domain.EUnavailable, Message: "database unavailable"}

// connectionLost wraps err as EUnavailable when it says the connection to
// the database was lost or could not be made — a server restarting, a
// network cut — so that callers tell clients to come back later (503,
// close 1013) instead of reporting an internal error. Other errors are
// returned as they are.
func connectionLost(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errUnavailable) {
		return err
	}
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
	if !lost {
		return err
	}
	return fmt.Errorf("%w: %w", errUnavailable, err)
}
