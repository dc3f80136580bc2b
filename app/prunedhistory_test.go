package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// When the retention has pruned a removal the hub had not read — another
// replica, ahead, pruned it while this one could not read — the hub must
// not go on as if the ticket were still there: every subscriber fails with
// ports.ErrHistoryPruned (its dashboard starts afresh), none receives a
// later change, and the hub goes on from the feed's horizon for new ones.
func TestHub_PrunedPastItsPositionFailsEverySubscriber(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	feed := portstest.NewFeed()
	tickets := demodata.New(18).Tickets(3)
	feed.Put(tickets...)
	h := startHub(t, feed, HubConfig{RetryMax: 5 * time.Millisecond}, nil)
	all, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	team, _ := subscribe(t, h, domain.Query{Teams: []string{tickets[1].Team}}, domain.ChangePos{})

	feed.SetErr(errors.New("the replica lags")) // no read gets through
	removed := feed.Remove(tickets[0].ID)
	if n, err := feed.PruneRemovals(ctx, time.Now().Add(time.Hour), removed); n != 1 || err != nil {
		t.Fatalf("prune: %d, %v", n, err)
	}
	feed.SetErr(nil)
	portstest.Await(t, "the hub to skip the pruned history", func() bool { return h.Stats().HistoryPruned == 1 })

	// The change comes after the fresh subscriber joins: put before, the
	// hub could read it first, and the subscriber would start past it.
	fresh, at := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	if !at.Includes(removed) {
		t.Errorf("a subscriber after the skip starts at %v, before the pruned removal %v", at, removed)
	}
	later := tickets[1]
	later.Subject = "after the prune"
	feed.Put(later)
	portstest.Await(t, "the fresh subscriber's change", func() bool { return fresh.Waiting() })
	for name, s := range map[string]*Subscription{"all": all, "one team": team} {
		got, err := s.Take(nil, 1<<20)
		if !errors.Is(err, ports.ErrHistoryPruned) || len(got) != 0 {
			t.Errorf("%s: Take = %d deliveries, %v; want none and ErrHistoryPruned", name, len(got), err)
		}
	}
	if !h.Position().Includes(removed) {
		t.Errorf("hub position %v, before the pruned removal %v", h.Position(), removed)
	}
}

// A transaction open while another replica prunes a newer removal loses
// nothing of its own: when it commits, every subscriber that had it
// pending gets its changes, and none is failed (this once made every
// replica's dashboards start over).
func TestHub_ATransactionOpenAcrossAPruneFailsNoSubscriber(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	feed := portstest.NewFeed()
	tickets := demodata.New(19).Tickets(3)
	feed.Put(tickets...)
	h := startHub(t, feed, HubConfig{RetryMax: 5 * time.Millisecond}, nil)
	sub, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})

	long := feed.Begin()
	held := tickets[0]
	held.Subject = "held open across a prune"
	long.Put(held)
	long.Remove(tickets[1].ID)
	removed := feed.Remove(tickets[2].ID)
	portstest.Await(t, "the hub to read the newer removal", func() bool { return h.Position().Covers(removed.Seq, removed.ID) })
	if n, err := feed.PruneRemovals(ctx, time.Now().Add(time.Hour), h.Position()); n != 1 || err != nil {
		t.Fatalf("prune: %d, %v; want the newer removal", n, err)
	}
	long.Commit()
	got := map[int64]bool{}
	portstest.Await(t, "the long transaction's update", func() bool {
		ds, err := sub.Take(nil, 1<<20)
		if err != nil {
			t.Fatalf("Take: %v; want the long transaction's update", err)
		}
		for _, d := range ds {
			got[d.ID] = true
		}
		return got[held.ID]
	})
	if n := h.Stats().HistoryPruned; n != 0 {
		t.Errorf("the hub skipped pruned history %d times; nothing it lacked was pruned", n)
	}
}
