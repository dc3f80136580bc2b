package gormstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
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

// What a prune records refuses no reader for lacking transactions newer
// than anything it took: a reader that had a removal, and nothing since,
// reads on after the removal is pruned, though newer transactions had
// committed before the prune.
//
// Other tests' transactions, in databases of their own, may be pending in
// the reader's position; once they commit, a prune counts them taken, and
// a reader lacking them is refused by design (with a real retention it is
// one older than the retention). A refusal they explain is tried again,
// a few times; the last try, or one they cannot explain (none had ended by
// the prune's mark), must pass.
func TestPrune_PostgresRefusesNoReaderForWhatCameAfterThePrunedChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const tries = 25
	tickets := demodata.New(20).Tickets(2 * tries)
	s := openStore(t, gormstore.Postgres, tickets, gormstore.Config{})
	w := writerConn(t, s)
	for try := range tries {
		start, err := s.Horizon(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteTicket(ctx, tickets[2*try].ID); err != nil {
			t.Fatal(err)
		}
		_, had, err := readFeed(ctx, s, start)
		if err != nil {
			t.Fatal(err)
		}
		later := tickets[2*try+1]
		later.Subject = "after the removal"
		if err := s.UpdateTicket(ctx, later); err != nil {
			t.Fatal(err)
		}
		all, err := s.Horizon(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.PruneRemovals(ctx, time.Now().Add(time.Hour), all); err != nil || n != 1 {
			t.Fatalf("prune: %d, %v; want the removal", n, err)
		}
		got, _, err := readFeed(ctx, s, had)
		if errors.Is(err, ports.ErrHistoryPruned) && try < tries-1 {
			if ended := endedByTheMark(t, w, had.Pending); len(ended) > 0 {
				t.Logf("try %d: read from %v refused; other transactions it had pending had ended by the prune's mark (%v): again", try, had, ended)
				continue
			}
		}
		if err != nil || len(got) != 1 || got[0].Ticket.ID != later.ID {
			t.Errorf("read from %v, which had the pruned removal: %d changes, %v; want the later update", had, len(got), err)
		}
		if _, _, err := readFeed(ctx, s, start); !errors.Is(err, ports.ErrHistoryPruned) {
			t.Errorf("read from %v, before the pruned removal: %v; want ErrHistoryPruned", start, err)
		}
		return
	}
}

// endedByTheMark returns those of xids that the newest prune mark shows
// ended: below its xmax and not pending in it. A prune with its cutoff
// ahead of now uses the mark it leaves, its own snapshot.
func endedByTheMark(t *testing.T, w *pgx.Conn, xids []uint64) []uint64 {
	t.Helper()
	var xmax int64
	var pending []int64
	if err := w.QueryRow(context.Background(), `SELECT snap_xmax, snap_pending FROM change_feed_marks ORDER BY taken_at DESC LIMIT 1`).Scan(&xmax, &pending); err != nil {
		t.Fatal(err)
	}
	var ended []uint64
	for _, x := range xids {
		if int64(x) < xmax && !slices.Contains(pending, int64(x)) {
			ended = append(ended, x)
		}
	}
	return ended
}

// During a rolling deploy, replicas of the previous release see what a new
// prune took by removals_pruned_before alone: a new prune raises it. Their
// own prunes raise legacy_pruned_before too, which new readers check; a
// new prune does not, so it brings back no false alarm.
func TestPrune_PostgresKeepsThePreviousReleasesFloor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tickets := demodata.New(21).Tickets(3)
	s := openStore(t, gormstore.Postgres, tickets, gormstore.Config{})
	w := writerConn(t, s)
	start, err := s.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTicket(ctx, tickets[0].ID); err != nil {
		t.Fatal(err)
	}
	var pos int64
	if err := w.QueryRow(ctx, `SELECT change_pos FROM ticket_removals WHERE id = $1`, tickets[0].ID).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	all, err := s.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneRemovals(ctx, time.Now().Add(time.Hour), all); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	var floor, legacy int64
	read := func() {
		t.Helper()
		if err := w.QueryRow(ctx, `SELECT removals_pruned_before, legacy_pruned_before FROM change_feed_state`).Scan(&floor, &legacy); err != nil {
			t.Fatal(err)
		}
	}
	if read(); floor != pos+1 || legacy != 0 {
		t.Errorf("after a new prune of the removal at %d: removals_pruned_before %d, legacy_pruned_before %d; want %d and 0", pos, floor, legacy, pos+1)
	}
	// A replica of the previous release prunes (its statement, reduced to
	// what it does to change_feed_state).
	if _, err := w.Exec(ctx, `UPDATE change_feed_state SET removals_pruned_before = GREATEST(removals_pruned_before, $1) WHERE id = 1`, pos+1); err != nil {
		t.Fatal(err)
	}
	if read(); legacy != pos+1 {
		t.Errorf("after a previous release's prune: legacy_pruned_before %d; want %d", legacy, pos+1)
	}
	// Also from a session whose triggers run as a replica's.
	if _, err := w.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(ctx, `UPDATE change_feed_state SET removals_pruned_before = GREATEST(removals_pruned_before, $1) WHERE id = 1`, pos+2); err != nil {
		t.Fatal(err)
	}
	if read(); legacy != pos+2 {
		t.Errorf("after a previous release's prune as a replica: legacy_pruned_before %d; want %d", legacy, pos+2)
	}
	if _, _, err := readFeed(ctx, s, start); !errors.Is(err, ports.ErrHistoryPruned) {
		t.Errorf("read from before both prunes: %v; want ErrHistoryPruned", err)
	}
}

// A prune runs READ COMMITTED whatever the database's default: another
// replica's prune committing while it waits for change_feed_state does not
// fail it (under SERIALIZABLE it would, every time prunes overlap).
func TestPrune_PostgresTakesTurnsUnderASerializableDefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tickets := demodata.New(22).Tickets(3)
	s := openStore(t, gormstore.Postgres, tickets, gormstore.Config{})
	w := writerConn(t, s)
	if _, err := w.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{pgtest.DatabaseName(s.Target())}.Sanitize()+` SET default_transaction_isolation = 'serializable'`); err != nil {
		t.Fatal(err)
	}
	strict, closeStrict, err := gormstore.Open(ctx, gormstore.Config{URL: s.Target()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStrict)
	if err := strict.DeleteTicket(ctx, tickets[0].ID); err != nil {
		t.Fatal(err)
	}
	all, err := strict.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := w.Begin(ctx) // another replica's prune, holding the state
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := other.Exec(ctx, `SELECT 1 FROM change_feed_state WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := strict.PruneRemovals(ctx, time.Now().Add(time.Hour), all)
		done <- result{n, err}
	}()
	time.Sleep(100 * time.Millisecond) // let the prune reach the lock; should it come later, it finds the row free
	if _, err := other.Exec(ctx, `UPDATE change_feed_state SET pruned_pending = pruned_pending WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.n != 1 {
		t.Errorf("prune behind another replica's, on a SERIALIZABLE database: %d, %v; want the removal", r.n, r.err)
	}
}

// A prune up to a position in the middle of a transaction records what it
// took as exactly as a position can: a reader that lacks the transaction
// is told, and one at the same point reads its rest.
func TestPrune_PostgresUpToATransactionReadInPart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tickets := demodata.New(46).Tickets(4)
	s := openStore(t, gormstore.Postgres, tickets, gormstore.Config{})
	w := writerConn(t, s)
	if _, err := w.Exec(ctx, `DELETE FROM tickets`); err != nil { // one transaction, four removals
		t.Fatal(err)
	}
	var seq, mid int64
	if err := w.QueryRow(ctx, `SELECT max(change_pos), percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM ticket_removals`).Scan(&seq, &mid); err != nil {
		t.Fatal(err)
	}
	before := domain.ChangePos{Xmax: uint64(seq)} // everything before the transaction, nothing of it
	part := domain.ChangePos{Xmax: uint64(seq), Seq: uint64(seq), ID: mid}
	n, err := s.PruneRemovals(ctx, time.Now().Add(time.Hour), part)
	if err != nil || n != 2 {
		t.Fatalf("prune up to %v: %d, %v; want the 2 removals up to ticket %d", part, n, err, mid)
	}
	if _, _, err := readFeed(ctx, s, before); !errors.Is(err, ports.ErrHistoryPruned) {
		t.Errorf("read from %v, which lacks the pruned removals: %v; want ErrHistoryPruned", before, err)
	}
	got, _, err := readFeed(ctx, s, part)
	if err != nil || len(got) != 2 {
		t.Errorf("read from %v: %d changes, %v; want the 2 removals after ticket %d", part, len(got), err, mid)
	}
	for _, c := range got {
		if !c.Removed || c.Ticket.ID <= mid {
			t.Errorf("read from %v: %+v; want removals after ticket %d", part, c, mid)
		}
	}
}
