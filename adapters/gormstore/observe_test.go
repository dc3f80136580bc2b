package gormstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketstream/ticketstream/domain"
)

func TestConnectionLost_TellsALostDatabaseFromAFailedQuery(t *testing.T) {
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
		{"a statement timeout", &pgconn.PgError{Code: "57014"}, false},
		{"the client left", context.Canceled, false},
		{"any other error", errors.New("scan ticket: bad column"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := connectionLost(tc.err)
			if lost := domain.ErrorCode(got) == domain.EUnavailable; lost != tc.lost {
				t.Fatalf("connectionLost(%v) = %v: unavailable %v, want %v", tc.err, got, lost, tc.lost)
			}
			if !errors.Is(got, tc.err) {
				t.Fatalf("the cause is lost: %v", got)
			}
		})
	}
}
