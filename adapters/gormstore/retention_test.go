package gormstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// one writing transaction left open in another database of the
// server (the batch job / psql BEGIN) is pending in every position
// read while it stays open. Once removals committed after it are pruned,
// removals_pruned_before passes its xid, and CheckResume refuses every
// cursor handed out meanwhile as "too old" — though nothing the cursor
// lacks was pruned (the open transaction has written nothing here). Every
// dashboard that reconnects resyncs with a full snapshot for as long as
// the transaction stays open.
func TestRetention_AnOpenTransactionElsewhereLeavesCursorsResumable(t *testing.T) {
	s, _ := openPostgres(t)
	ctx := context.Background()
	tickets := demodata.New(4).Tickets(3)
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	portstest.WaitChanges(t, s, domain.ChangePos{}, 100, 3)
	pgtest.HoldWriterElsewhere(t) // open for the whole test
	if err := s.DeleteTicket(ctx, tickets[0].ID); err != nil {
		t.Fatal(err)
	}

	cfg := app.DefaultHubConfig()
	cfg.Retention = time.Millisecond
	cfg.PruneInterval = 50 * time.Millisecond
	hub := runHub(t, s, cfg)
	id, err := hub.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A dashboard subscribes now: its cursor is the hub's position. Other
	// tests' short transactions, in their own databases, may be pending in
	// it too; those commit before the prune's mark, and a cursor lacking
	// them is one older than the retention, which may resync. The cursor
	// the test needs lacks only the held one.
	var pos domain.ChangePos
	portstest.Await(t, "a position lacking only the held transaction", func() bool {
		_, pos, err = hub.Subscribe(ctx, domain.Query{}, app.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(pos.Pending) == 1
	})
	t.Logf("position at subscribe: %v", pos)
	// The pruning runs (removal older than the retention, read by the hub).
	portstest.Await(t, "the removal pruned", func() bool {
		p, err := s.ResumableAfter(ctx)
		return err == nil && !p.IsZero()
	})
	oldest, _ := s.ResumableAfter(ctx)
	reason, err := hub.CheckResume(ctx, domain.LiveCursor{Cluster: id, Live: pos, Watermark: pos, Filter: domain.FilterHash(domain.Query{})})
	if err != nil {
		t.Fatal(err)
	}
	if reason != "" {
		t.Fatalf("a cursor at the hub's current position %v is refused (%q) after pruning up to %v, though the only transaction it lacks is still open and wrote nothing here", pos, reason, oldest)
	}
}
