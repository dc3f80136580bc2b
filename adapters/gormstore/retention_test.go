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
//
// Other tests' transactions, in databases of their own, may be pending in
// the cursor too; those that commit before the prune's mark are counted
// taken, and a cursor lacking them is refused by design (with a real
// retention it is one older than the retention). A refusal they explain
// is tried again with a newer removal, a few times; the last try, or one
// they cannot explain, must pass. (Waiting instead for a cursor lacking
// only the held transaction would wait for ever beside another test
// holding one of its own.)
func TestRetention_AnOpenTransactionElsewhereLeavesCursorsResumable(t *testing.T) {
	s, _ := openPostgres(t)
	ctx := context.Background()
	const tries = 16
	tickets := demodata.New(4).Tickets(tries + 2)
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
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
	var prunedTo domain.ChangePos // before this try's removal
	for try := range tries {
		if try > 0 { // a newer removal, which the hub reads before the dashboard subscribes
			if err := s.DeleteTicket(ctx, tickets[try].ID); err != nil {
				t.Fatal(err)
			}
			now, err := s.Horizon(ctx)
			if err != nil {
				t.Fatal(err)
			}
			portstest.Await(t, "the hub to read the removal", func() bool { return hub.Position().Includes(now) })
		}
		// A dashboard subscribes now: its cursor is the hub's position.
		_, pos, err := hub.Subscribe(ctx, domain.Query{}, app.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The pruning runs (removal older than the retention, read by the hub).
		portstest.Await(t, "the removal pruned", func() bool {
			p, err := s.ResumableAfter(ctx)
			return err == nil && !p.IsZero() && !p.Equal(prunedTo)
		})
		oldest, _ := s.ResumableAfter(ctx)
		prunedTo = oldest
		reason, err := hub.CheckResume(ctx, domain.LiveCursor{Cluster: id, Live: pos, Watermark: pos, Filter: domain.FilterHash(domain.Query{})})
		if err != nil {
			t.Fatal(err)
		}
		if reason != "" && try < tries-1 {
			if ended := pgtest.Ended(t, s.Target(), pos.Pending); len(ended) > 0 {
				t.Logf("try %d: cursor at %v refused; other transactions it had pending have ended since (%v): again", try, pos, ended)
				continue
			}
		}
		if reason != "" {
			t.Fatalf("a cursor at the hub's current position %v is refused (%q) after pruning up to %v, though the only transaction it lacks is still open and wrote nothing here", pos, reason, oldest)
		}
		return
	}
}
