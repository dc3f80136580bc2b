package gormstore_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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

// TestPostgres_CancelsLeaveOthersTheirConnections: the pool full of
// statements that are all cancelled at once, while as many others wait for
// a connection: the waiting ones never fail. A cancelled connection refused
// only when handed out again used up database/sql's retries, several in a
// row, and a statement that had cancelled nothing failed "bad connection".
func TestPostgres_CancelsLeaveOthersTheirConnections(t *testing.T) {
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	db, err := s.Gorm().DB()
	if err != nil {
		t.Fatal(err)
	}
	const pool = 4
	db.SetMaxOpenConns(pool)
	bg := context.Background()
	var failed atomic.Int64
	for range 8 {
		ctx, cancel := context.WithCancel(bg)
		var wg sync.WaitGroup
		for range pool { // each takes a connection and is cancelled
			wg.Go(func() { _, _ = db.ExecContext(ctx, "SELECT pg_sleep(5)") })
		}
		time.Sleep(100 * time.Millisecond)
		for range 3 * pool { // queued behind them, never cancelled
			wg.Go(func() {
				var x int
				if err := db.QueryRowContext(bg, "SELECT 1 FROM pg_sleep(0.01)").Scan(&x); err != nil {
					failed.Add(1)
					t.Errorf("a statement that cancelled nothing: %v", err)
				}
			})
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
		wg.Wait()
	}
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d statements failed for others' cancels", n)
	}
}
