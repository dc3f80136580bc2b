package gormstore_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
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
