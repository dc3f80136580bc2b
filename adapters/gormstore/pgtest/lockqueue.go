package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// LockQueue is the usual lock queue on a table: a reader left in its
// transaction (a report: ACCESS SHARE, no transaction id) and, queued
// behind it, a LOCK TABLE … ACCESS EXCLUSIVE (a migration). Every later
// statement on the table queues behind both.
type LockQueue struct {
	// ReaderPID is the reader's backend: the head of the queue.
	ReaderPID int
	reader    pgx.Tx
	locker    pgx.Tx
	locked    chan error
}

// QueueBehindAReader builds a LockQueue on table of the database at url,
// its sessions named application "monthly-report" and "migration". The
// test's end rolls back whatever is still open.
func QueueBehindAReader(t testing.TB, url, table string) *LockQueue {
	t.Helper()
	ctx := context.Background()
	connect := func(application string) *pgx.Conn {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		cfg.RuntimeParams["application_name"] = application
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("pgtest: connect: %v", err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	reader, locker := connect("monthly-report"), connect("migration")
	q := &LockQueue{locked: make(chan error, 1)}
	if err := reader.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&q.ReaderPID); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	var err error
	if q.reader, err = reader.Begin(ctx); err != nil {
		t.Fatalf("pgtest: begin: %v", err)
	}
	t.Cleanup(func() { _ = q.reader.Rollback(context.Background()) })
	if _, err := q.reader.Exec(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	var lockerPID int
	if err := locker.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&lockerPID); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if q.locker, err = locker.Begin(ctx); err != nil {
		t.Fatalf("pgtest: begin: %v", err)
	}
	go func() {
		_, err := q.locker.Exec(ctx, `LOCK TABLE `+pgx.Identifier{table}.Sanitize()+` IN ACCESS EXCLUSIVE MODE`)
		q.locked <- err
	}()
	t.Cleanup(func() {
		_ = q.reader.Rollback(context.Background())
		<-q.locked
		_ = q.locker.Rollback(context.Background())
	})
	q.awaitQueued(t, lockerPID)
	return q
}

// awaitQueued returns once the LOCK TABLE waits in the queue: until then
// a statement on the table shares the reader's lock and waits on nothing,
// which on a loaded machine, the goroutine sending the LOCK TABLE not yet
// run, made a test wait for a queue that never formed.
func (q *LockQueue) awaitQueued(t testing.TB, lockerPID int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var queued bool
		if err := q.reader.QueryRow(context.Background(),
			`SELECT EXISTS (SELECT FROM pg_locks WHERE pid = $1 AND NOT granted)`, lockerPID).Scan(&queued); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		if queued {
			return
		}
		select {
		case err := <-q.locked:
			q.locked <- err // for the cleanup
			t.Fatalf("pgtest: LOCK TABLE ended before it queued behind the reader: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("pgtest: LOCK TABLE did not queue behind the reader within a minute")
		}
	}
}

// Release ends the reader's transaction, waits for the LOCK TABLE to be
// granted and returns its transaction, holding the lock, for the caller
// to write in and end; the statements queued behind it run once it ends.
func (q *LockQueue) Release(t testing.TB) pgx.Tx {
	t.Helper()
	if err := q.reader.Rollback(context.Background()); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	err := <-q.locked
	q.locked <- err // for the cleanup
	if err != nil {
		t.Fatalf("pgtest: LOCK TABLE: %v", err)
	}
	return q.locker
}
