package gormstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// readFeed reads the feed from `from` to now and returns the changes read,
// the position reached and the read's error.
func readFeed(ctx context.Context, s *gormstore.Store, from domain.ChangePos) ([]ports.Change, domain.ChangePos, error) {
	var got []ports.Change
	reached, err := s.ReadChanges(ctx, from, domain.ChangePos{}, 100, ports.ChangeHandlerFunc(func(b []ports.Change) error {
		got = append(got, b...)
		return nil
	}))
	return got, reached, err
}

// A writing transaction open while a newer removal is pruned takes nothing
// from a reader that had it pending: when it commits, the reader reads its
// changes — no ports.ErrHistoryPruned, no resync (this once made every
// replica's dashboards start over). Once its own removal is pruned, the
// same reader has lost it, and is told.
func TestPrune_PostgresALongTransactionEndingAfterAPruneFailsNoReader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tickets := demodata.New(18).Tickets(4)
	s := openStore(t, gormstore.Postgres, tickets, gormstore.Config{})
	start, err := s.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	long, _ := beginWriter(t, s)
	if _, err := long.Exec(ctx, `UPDATE tickets SET subject = 'held' WHERE id = $1`, tickets[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := long.Exec(ctx, `DELETE FROM tickets WHERE id = $1`, tickets[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Gorm().Exec(`DELETE FROM tickets WHERE id = ?`, tickets[2].ID).Error; err != nil {
		t.Fatal(err)
	}
	_, pending, err := readFeed(ctx, s, start)
	if err != nil || len(pending.Pending) == 0 {
		t.Fatalf("read with a transaction open: reached %v, %v; want it pending", pending, err)
	}
	// A cutoff ahead of now: every removal read and committed may go.
	if n, err := s.PruneRemovals(ctx, time.Now().Add(time.Hour), pending); err != nil || n != 1 {
		t.Fatalf("prune with the long transaction open: %d, %v; want the other removal", n, err)
	}
	if err := long.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if kept, err := s.ResumableAfter(ctx); err != nil || !pending.Includes(kept) {
		t.Errorf("ResumableAfter = %v, %v: a cursor at %v, which lost nothing, would resync", kept, err, pending)
	}
	got, reached, err := readFeed(ctx, s, pending)
	if err != nil {
		t.Fatalf("read from %v once the long transaction committed: %v; want its changes", pending, err)
	}
	ids := make([]int64, 0, len(got))
	for _, c := range got {
		ids = append(ids, c.Ticket.ID)
	}
	slices.Sort(ids)
	if want := []int64{tickets[0].ID, tickets[1].ID}; !slices.Equal(ids, want) {
		t.Errorf("read the tickets %v; want the long transaction's %v", ids, want)
	}

	// Its own removal pruned, the reader that had it pending has lost it.
	if n, err := s.PruneRemovals(ctx, time.Now().Add(time.Hour), reached); err != nil || n != 1 {
		t.Fatalf("prune after the commit: %d, %v; want the long transaction's removal", n, err)
	}
	if _, _, err := readFeed(ctx, s, pending); !errors.Is(err, ports.ErrHistoryPruned) {
		t.Errorf("read from %v after its removal was pruned: %v; want ErrHistoryPruned", pending, err)
	}
	if kept, err := s.ResumableAfter(ctx); err != nil || pending.Includes(kept) || !reached.Includes(kept) {
		t.Errorf("ResumableAfter = %v, %v; want %v to resync and %v to resume", kept, err, pending, reached)
	}
}

// Retention counts from a transaction's commit: a delete made long before
// its transaction commits is kept the retention after the commit, not
// pruned at the first prune after it. And marks stay few, however often
// the prune runs.
func TestPrune_PostgresRetentionCountsFromTheCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tickets := demodata.New(19).Tickets(2)
	s := openStore(t, gormstore.Postgres, tickets, gormstore.Config{})
	long, w := beginWriter(t, s)
	if _, err := long.Exec(ctx, `DELETE FROM tickets WHERE id = $1`, tickets[0].ID); err != nil {
		t.Fatal(err)
	}
	everything, err := s.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A prune while it is open leaves a mark that shows it open.
	if n, err := s.PruneRemovals(ctx, time.Now().Add(-time.Hour), everything); err != nil || n != 0 {
		t.Fatalf("prune before anything is old: %d, %v", n, err)
	}
	time.Sleep(20 * time.Millisecond)
	cutoff := time.Now() // the delete is older than this, the commit newer
	time.Sleep(20 * time.Millisecond)
	if err := long.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if everything, err = s.Horizon(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneRemovals(ctx, cutoff, everything); err != nil || n != 0 {
		t.Errorf("prune with a cutoff between the delete and its commit: %d, %v; want none pruned", n, err)
	}
	for range 20 {
		if _, err := s.PruneRemovals(ctx, time.Now().Add(-time.Hour), everything); err != nil {
			t.Fatal(err)
		}
	}
	var marks int
	if err := w.QueryRow(ctx, `SELECT count(*) FROM change_feed_marks`).Scan(&marks); err != nil || marks > 3 {
		t.Errorf("%d marks after 23 prunes (%v); want a few: one per thousandth of the retention", marks, err)
	}
	if n, err := s.PruneRemovals(ctx, time.Now().Add(time.Hour), everything); err != nil || n != 1 {
		t.Errorf("prune with a cutoff after the commit: %d, %v; want the removal", n, err)
	}
}
