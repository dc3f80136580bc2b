package gormstore_test

import (
	"context"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// The usual lock queue: a report reads tickets in a transaction left
// open (ACCESS SHARE, no transaction id), a LOCK TABLE queues behind it,
// and the feed's read queues behind that. LockHolder names the report —
// the head of the queue, which wrote nothing — not the LOCK TABLE, and
// not the server's oldest writer, open in another database all along.
func TestFeed_PostgresNamesTheHeadOfTheLockQueue(t *testing.T) {
	t.Parallel()
	s, url := openPostgres(t)
	ctx := context.Background()
	pgtest.HoldWriterElsewhere(t)
	if w, err := s.LockHolder(ctx); err != nil || w.PID != 0 {
		t.Fatalf("LockHolder with nothing waiting = %+v, %v; want none", w, err)
	}
	queue := pgtest.QueueBehindAReader(t, url, "tickets")
	readCtx, stopReading := context.WithCancel(ctx)
	read := make(chan error, 1)
	go func() {
		_, err := s.ReadChanges(readCtx, domain.ChangePos{}, domain.ChangePos{}, 10, ports.ChangeHandlerFunc(func([]ports.Change) error { return nil }))
		read <- err
	}()
	var got ports.Writer
	var err error
	portstest.Await(t, "LockHolder to name the head of the queue the feed's read waits in", func() bool {
		select {
		case err := <-read:
			t.Fatalf("the feed's read waited on no lock: it ended with %v", err)
		default:
		}
		got, err = s.LockHolder(ctx)
		return err == nil && got.PID != 0
	})
	if got.PID != queue.ReaderPID || got.Application != "monthly-report" {
		t.Fatalf("LockHolder = %+v, want the report (pid %d) at the head of the queue", got, queue.ReaderPID)
	}
	stopReading()
	if err := <-read; err == nil {
		t.Fatal("the read waiting on the lock returned no error when cancelled")
	}
	if err := queue.Release(t).Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}
