package gormstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// TestStream_CancelStopsTheQueryOnTheServer parks a stream's query behind a
// table lock, cancels the stream, and watches pg_stat_activity: the server
// must stop the query at once (the backend turns idle, or ends, while the
// lock is still held).
func TestStream_CancelStopsTheQueryOnTheServer(t *testing.T) {
	t.Parallel()
	s := openStore(t, gormstore.Postgres, demodata.New(1).Tickets(100), gormstore.Config{MaxOpenConns: 1})
	ctx := context.Background()
	var dbURL string
	if err := s.Gorm().Raw("SELECT current_database()").Scan(&dbURL).Error; err != nil {
		t.Fatal(err)
	}
	lockTickets(t, dbURL) // held until the test ends

	streamCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s.StreamTickets(streamCtx, domain.Query{}, 0, ports.BatchHandlerFunc(func([]domain.Ticket) error { return nil }))
	}()

	watcher := adminConn(t, dbURL)
	var pid int
	portstest.WaitFor(t, 5*time.Second, "the stream's query to wait on the lock", func() bool {
		err := watcher.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'ticketstream'
			  AND state = 'active' AND wait_event_type = 'Lock'`).Scan(&pid)
		return err == nil
	})

	cancelled := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("StreamTickets = %v, want an error wrapping context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("StreamTickets did not return within 3s of the cancel")
	}
	// The connection is then dropped (a late cancel must not meet the next
	// statement), but a backend waiting on a lock never notices its
	// client gone: idle or gone while the lock is held, the query was
	// cancelled on the server.
	portstest.WaitFor(t, 2*time.Second, "the server to stop the cancelled query", func() bool {
		var state string
		err := watcher.QueryRow(ctx, "SELECT state FROM pg_stat_activity WHERE pid = $1", pid).Scan(&state)
		return errors.Is(err, pgx.ErrNoRows) || (err == nil && state == "idle")
	})
	t.Logf("server stopped the query %v after the cancel, lock still held", time.Since(cancelled).Round(time.Millisecond))
}

// lockTickets takes an exclusive lock on the tickets table of database in a
// transaction that t's cleanup rolls back, so that queries on it wait.
func lockTickets(t *testing.T, database string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := adminConn(t, database).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	if _, err := tx.Exec(ctx, "LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	return tx
}

func adminConn(t *testing.T, database string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgtestAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = database
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestStream_SlowClientHoldsNoConnection streams with a pool of one
// connection and, inside the batch handler (the slow client), runs another
// query: it only succeeds if the stream released its connection before
// handing the batch on.
func TestStream_SlowClientHoldsNoConnection(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, d, demodata.New(1).Tickets(250), gormstore.Config{MaxOpenConns: 1})
			batches := 0
			err := s.StreamTickets(context.Background(), domain.Query{}, 100, ports.BatchHandlerFunc(func([]domain.Ticket) error {
				batches++
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, err := s.Count(ctx)
				return err
			}))
			if err != nil {
				t.Fatalf("a query inside the batch handler failed, so the stream held the only connection: %v", err)
			}
			if batches != 3 {
				t.Fatalf("%d batches, want 3", batches)
			}
		})
	}
}

// TestStream_CancellationStormReconnectsAtMostThePool cancels 40 streams,
// 8 of whose queries are running (the pool's size) and 32 waiting for a
// connection. The running ones are cancelled on the server and their
// connections dropped — a late cancel request must not meet the next
// statement — but clients leaving in bulk do not turn into a storm of
// reconnects (pgx #1780): at most the pool's size of new backends, and the
// pool serves again at once.
func TestStream_CancellationStormReconnectsAtMostThePool(t *testing.T) {
	t.Parallel()
	s := openStore(t, gormstore.Postgres, demodata.New(1).Tickets(100), gormstore.Config{MaxOpenConns: 8})
	ctx := context.Background()
	backends := func() map[int]bool {
		var pids []int
		if err := s.Gorm().Raw(`SELECT pid FROM pg_stat_activity WHERE datname = current_database()
			AND application_name = 'ticketstream' AND pid <> pg_backend_pid()`).Scan(&pids).Error; err != nil {
			t.Fatal(err)
		}
		m := map[int]bool{}
		for _, p := range pids {
			m[p] = true
		}
		return m
	}
	// Fill the pool, then park every query behind a table lock.
	var warm sync.WaitGroup
	for range 8 {
		warm.Go(func() {
			_ = s.StreamTickets(ctx, domain.Query{}, 0, ports.BatchHandlerFunc(func([]domain.Ticket) error { time.Sleep(50 * time.Millisecond); return nil }))
		})
	}
	warm.Wait()
	var dbName string
	s.Gorm().Raw("SELECT current_database()").Scan(&dbName)
	tx := lockTickets(t, dbName)
	watcher := adminConn(t, dbName)
	before := map[int]bool{}
	storm, cancel := context.WithCancel(ctx)
	var streams sync.WaitGroup
	for range 40 {
		streams.Go(func() {
			_ = s.StreamTickets(storm, domain.Query{}, 0, ports.BatchHandlerFunc(func([]domain.Ticket) error { return nil }))
		})
	}
	portstest.WaitFor(t, 5*time.Second, "8 queries waiting on the lock", func() bool {
		var n int
		_ = watcher.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND application_name = 'ticketstream' AND wait_event_type = 'Lock'`).Scan(&n)
		return n == 8
	})
	rows, err := watcher.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ticketstream'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var pid int
		_ = rows.Scan(&pid)
		before[pid] = true
	}
	rows.Close()
	cancel()
	streams.Wait()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.StreamTickets(ctx, domain.Query{}, 0, ports.BatchHandlerFunc(func([]domain.Ticket) error { return nil })); err != nil {
		t.Fatalf("a stream after the storm: %v", err)
	}
	after := backends()
	fresh := 0
	for pid := range after {
		if !before[pid] {
			fresh++
		}
	}
	if len(after) > 8 || fresh > 8 {
		t.Fatalf("%d backends after the storm, %d of them new: more than the pool's 8 (before %v, after %v)", len(after), fresh, before, after)
	}
	t.Logf("40 cancelled streams; %d backends after, %d of them new", len(after), fresh)
}
