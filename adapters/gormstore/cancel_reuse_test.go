package gormstore_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
)

// TestPostgres_CancelledStatementsNeverCancelTheNext: a statement whose
// context ends is cancelled on the server, and its connection is never
// handed out again. PostgreSQL's cancel request is asynchronous and names
// a backend, not a statement: on a loaded server one arrived after the
// statement it was meant for had ended and cancelled the next borrower's —
// another dashboard's snapshot failed with SQLSTATE 57014, because a
// dashboard that hung up had cancelled its own.
//
// With the pool at one connection, every statement would share a backend
// if connections were reused: the first case checks the next statement
// runs on another backend; the second cancels statements at random points
// of their run, each followed at once by another statement, which must
// never fail (the race itself, which needs a slow cancel to show).
func TestPostgres_CancelledStatementsNeverCancelTheNext(t *testing.T) {
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	db, err := s.Gorm().DB()
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	bg := context.Background()
	backend := func() int {
		t.Helper()
		var pid int
		if err := db.QueryRowContext(bg, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatalf("the statement after a cancelled one: %v", err)
		}
		return pid
	}
	t.Run("the cancelled connection is dropped", func(t *testing.T) {
		before := backend()
		if backend() != before {
			t.Fatal("an uncancelled connection was not reused: the check below proves nothing")
		}
		ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
		_, err := db.ExecContext(ctx, "SELECT pg_sleep(5)")
		cancel()
		if err == nil {
			t.Fatal("a 5 s statement ended within its 20 ms context")
		}
		if after := backend(); after == before {
			t.Fatalf("the connection whose statement was cancelled (backend %d) was handed out again", before)
		}
	})
	t.Run("cancels at random points", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for range 40 {
			ctx, cancel := context.WithTimeout(bg, time.Duration(rng.IntN(3000))*time.Microsecond)
			_, _ = db.ExecContext(ctx, "SELECT pg_sleep(0.0015)") // ends, or is cancelled
			cancel()
			backend()
		}
	})
}
