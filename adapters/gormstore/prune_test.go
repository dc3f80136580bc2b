package gormstore_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// On SQLite, pruning takes the write lock before it counts: a writer's
// transaction open when it starts is waited for, and what that writer
// commits is pruned in the same pass, never counted in one state of the
// table and deleted in another.
func TestPrune_SQLiteWaitsForAnOpenWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tickets := demodata.New(14).Tickets(3)
	s := openStore(t, gormstore.SQLite, tickets, gormstore.Config{})
	other, closeOther, err := gormstore.Open(ctx, gormstore.Config{URL: s.Target()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeOther)

	tx := other.Gorm().Begin()
	if err := tx.Exec(`DELETE FROM tickets WHERE id = ?`, tickets[0].ID).Error; err != nil {
		t.Fatal(err)
	}
	everything := domain.ChangePos{Xmax: math.MaxInt64, Seq: math.MaxInt64, ID: math.MaxInt64}
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.PruneRemovals(ctx, time.Now().Add(time.Hour), everything)
		done <- result{n, err}
	}()
	time.Sleep(100 * time.Millisecond) // let the prune start; should it start later, it finds the removal anyway
	if err := tx.Commit().Error; err != nil {
		t.Fatalf("the writer's commit: %v", err)
	}
	r := <-done
	if r.err != nil || r.n != 1 {
		t.Fatalf("PruneRemovals while a writer held its transaction = %d, %v; want it to wait and prune the removal", r.n, r.err)
	}
}

// A read from a position the retention has pruned past — another reader,
// ahead, pruned removals this one had not read — fails with
// ports.ErrHistoryPruned and hands over nothing, on each dialect, whether
// the position lacks the removal's transaction for being older or for
// having had it open; a read from a later position goes on.
func TestReadChanges_FailsPastPrunedHistory(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			tickets := demodata.New(15).Tickets(6)
			s := openStore(t, d, tickets, gormstore.Config{})
			behind, err := s.Horizon(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var open domain.ChangePos // a position with the deleting transaction open
			tx := s.Gorm().Begin()
			if err := tx.Exec(`DELETE FROM tickets WHERE id = ?`, tickets[0].ID).Error; err != nil {
				t.Fatal(err)
			}
			if d == gormstore.Postgres {
				if open, err = s.Horizon(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit().Error; err != nil {
				t.Fatal(err)
			}
			ahead, err := s.Horizon(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := s.PruneRemovals(ctx, time.Now().Add(time.Hour), ahead); err != nil || n != 1 {
				t.Fatalf("prune: %d, %v; want 1 removal", n, err)
			}
			for _, from := range []domain.ChangePos{behind, open} {
				if from.IsZero() {
					continue
				}
				handed := 0
				_, err := s.ReadChanges(ctx, from, domain.ChangePos{}, 100, ports.ChangeHandlerFunc(func(b []ports.Change) error { handed += len(b); return nil }))
				if !errors.Is(err, ports.ErrHistoryPruned) || handed != 0 {
					t.Errorf("read from %v: %v, %d changes handed over; want ErrHistoryPruned and none", from, err, handed)
				}
			}
			if _, err := s.ReadChanges(ctx, ahead, domain.ChangePos{}, 100, ports.ChangeHandlerFunc(func([]ports.Change) error { return nil })); err != nil {
				t.Errorf("read from the pruner's position: %v", err)
			}
		})
	}
}

// A removal's and a departure's age count from their statement, not from
// the start of the transaction (migration 00012): a transaction open for
// long before its delete has the removal kept the whole retention.
func TestPrune_PostgresAgeCountsFromTheStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tickets := demodata.New(17).Tickets(2)
	s := openStore(t, gormstore.Postgres, tickets, gormstore.Config{})
	tx, w := beginWriter(t, s)
	var began, before time.Time
	if err := tx.QueryRow(ctx, `SELECT now(), clock_timestamp() FROM pg_sleep(0.05)`).Scan(&began, &before); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET team = team || '-moved' WHERE id = $1`, tickets[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM tickets WHERE id = $1`, tickets[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var removed, departed time.Time
	if err := w.QueryRow(ctx, `SELECT (SELECT removed_at FROM ticket_removals WHERE id = $1), (SELECT departed_at FROM ticket_departures WHERE id = $2)`, tickets[1].ID, tickets[0].ID).Scan(&removed, &departed); err != nil {
		t.Fatal(err)
	}
	if removed.Before(before) || departed.Before(before) {
		t.Errorf("removed_at %v, departed_at %v: before their statements (%v; the transaction began %v)", removed, departed, before, began)
	}
}
