package gormstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// failedQueries records the failed queries a store reports
// (ticketstream_db_query_errors_total).
type failedQueries struct {
	mu   sync.Mutex
	errs []error
}

func (f *failedQueries) QueryDone(_ string, _ time.Duration, err error) {
	if err != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.errs = append(f.errs, err)
	}
}

func (f *failedQueries) RowSkipped(string) {}

func (f *failedQueries) failed() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// Dashboards that hang up in the middle of their snapshot — after one
// batch or a few, at once or a moment later, while a page is being read —
// stop its query with a cancel request, which PostgreSQL answers with an
// error (57014, "canceling statement due to user request"). That is no
// failed query: each such hang-up once counted in
// ticketstream_db_query_errors_total, an alert's false alarm on a busy help
// desk. A statement that really fails still counts.
func TestPostgres_ADashboardThatHangsUpMidSnapshotIsNoFailedQuery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, demodata.New(41).Tickets(60_000), gormstore.Config{})
	obs := &failedQueries{}
	s.SetQueryObserver(obs)
	for i := range 40 {
		streamCtx, hangUp := context.WithCancel(ctx)
		batches := 0
		err := s.StreamTickets(streamCtx, domain.Query{}, 100, ports.BatchHandlerFunc(func([]domain.Ticket) error {
			if batches++; batches == 1+i%4 {
				go func() {
					time.Sleep(time.Duration(i%5) * 100 * time.Microsecond)
					hangUp()
				}()
			}
			return nil
		}))
		hangUp()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("hang-up %d: the stream failed with %v, want nil or the cancellation", i, err)
		}
	}
	if failed := obs.failed(); len(failed) > 0 {
		t.Fatalf("%d hang-ups counted as failed queries, first: %v", len(failed), failed[0])
	}
	// A statement the database stops on its own still counts: one that
	// waits past the statement timeout behind a writer's lock.
	timed, closeTimed, err := gormstore.Open(ctx, gormstore.Config{URL: s.Target(), StatementTimeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeTimed()
	timed.SetQueryObserver(obs)
	tx, _ := beginWriter(t, s)
	if _, err := tx.Exec(ctx, `LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	err = timed.StreamTickets(ctx, domain.Query{}, 100, ports.BatchHandlerFunc(func([]domain.Ticket) error { return nil }))
	if err == nil || len(obs.failed()) != 1 {
		t.Fatalf("a stream stopped by the statement timeout: err %v, %d failed queries counted; want an error and 1", err, len(obs.failed()))
	}
}
