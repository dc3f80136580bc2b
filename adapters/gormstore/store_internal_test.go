package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketstream/ticketstream/domain"
)

// codedError stands for the SQLite driver's error, which carries the
// result code.
type codedError int

func (e codedError) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e codedError) Code() int     { return int(e) }

// A SQLite file another process is opening or migrating answers BUSY or
// LOCKED for a moment: opening retries those, and gives up at once on any
// other failure of the file.
func TestClassifyConnectError_SQLiteRetriesOnlyABusyFile(t *testing.T) {
	t.Parallel()
	s := &sqliteEngine{&Store{target: target{path: "/tmp/x.db"}}}
	for _, tc := range []struct {
		name  string
		err   error
		retry bool
	}{
		{"busy", codedError(5), true},
		{"busy recovery (extended code)", codedError(5 | 1<<8), true},
		{"locked", codedError(6), true},
		{"busy, wrapped", fmt.Errorf("ping: %w", codedError(5)), true},
		{"cannot open", codedError(14), false},
		{"read-only", codedError(8), false},
		{"no code", errors.New("disk full"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := s.connectError(tc.err)
			if (got == nil) != tc.retry {
				t.Fatalf("connectError(%v) = %v; want retry %v", tc.err, got, tc.retry)
			}
			if got != nil && !strings.Contains(got.Error(), "/tmp/x.db") {
				t.Fatalf("the error does not name the file: %v", got)
			}
		})
	}
}

// The retry above reads the code through a Code method: the SQLite driver's
// real errors must have one, or a busy file would fail at once again.
func TestSQLiteDriverErrorsCarryTheirCode(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "missing-dir", "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.PingContext(context.Background())
	var coded interface{ Code() int }
	if err == nil || !errors.As(err, &coded) {
		t.Fatalf("opening a file in a missing directory gave %v (%T), with no Code method", err, err)
	}
	const cantOpen = 14
	if coded.Code()&0xff != cantOpen || sqliteBusy(err) {
		t.Fatalf("code %d, busy %v; want SQLITE_CANTOPEN and not busy", coded.Code(), sqliteBusy(err))
	}
}

// A database whose connection slots are all taken refuses for a while: the
// client is told to come back (EUnavailable: 503, close 1013), not that
// the server failed. A refusal no wait mends stays what it is.
func TestConnectionLost_TooManyClientsIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		code string
		want bool
	}{
		{"53300", true},  // too many connections
		{"57P03", true},  // starting up
		{"08006", true},  // connection failure
		{"28P01", false}, // wrong password
		{"3D000", false}, // no such database
	} {
		err := &pgconn.ConnectError{Config: &pgconn.Config{}}
		wrapped := fmt.Errorf("acquire connection: %w", errors.Join(err, &pgconn.PgError{Code: tc.code}))
		if got := domain.ErrorCode(unavailable(wrapped)) == domain.EUnavailable; got != tc.want {
			t.Errorf("SQLSTATE %s: unavailable = %v, want %v", tc.code, got, tc.want)
		}
	}
}
