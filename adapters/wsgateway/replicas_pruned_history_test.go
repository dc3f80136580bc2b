package wsgateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// gatedFeed is a change feed whose reads wait while the gate is shut: a
// replica that lags — paused by the scheduler, a stolen CPU, a slow read.
type gatedFeed struct {
	ports.ChangeFeed
	gate chan struct{} // holds a token while reads may run
}

func newGatedFeed(f ports.ChangeFeed) *gatedFeed {
	g := &gatedFeed{ChangeFeed: f, gate: make(chan struct{}, 1)}
	g.gate <- struct{}{}
	return g
}

func (g *gatedFeed) ReadChanges(ctx context.Context, after, until domain.ChangePos, n int, h ports.ChangeHandler) (domain.ChangePos, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return after, ctx.Err()
	}
	defer func() { g.gate <- struct{}{} }()
	return g.ChangeFeed.ReadChanges(ctx, after, until, n, h)
}

func (g *gatedFeed) shut() { <-g.gate }
func (g *gatedFeed) open() { g.gate <- struct{}{} }

// A replica that lags while another prunes the removals it has not read —
// the other replica runs a shorter retention, or the delete's transaction
// began longer ago than the retention — must not go on as if nothing had
// been removed: its dashboards are closed (1013) and, resuming with their
// cursor on either replica, get resync and a fresh snapshot without the
// deleted ticket. (They used to keep it for good, their later cursors
// vouching for the removal they never had.)
func TestReplicas_LaggingReplicaResyncsWhenAnotherPrunedWhatItHadNotRead(t *testing.T) {
	for _, d := range []gormstore.Dialect{gormstore.Postgres, gormstore.SQLite} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(83).Tickets(300)
			pruner, prunerHub, _ := storeGateway(t, d, tickets)
			var gated *gatedFeed
			_, laggard, base := gatewayReading(t, pruner.Target(), 0, gatewayWraps{feed: func(s *gormstore.Store) ports.ChangeFeed {
				gated = newGatedFeed(s)
				return gated
			}})
			ctx := context.Background()
			waitDispatched(t, pruner, laggard)
			view := &wsclient.View{}
			c := dialView(t, base, "admin", view)
			defer c.Conn.CloseNow()
			if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
				t.Fatal(err)
			}
			gone := tickets[7].ID
			if _, ok := view.Tickets[gone]; !ok {
				t.Fatalf("ticket %d not in the snapshot", gone)
			}

			gated.shut() // the laggard stops reading
			if err := pruner.DeleteTicket(ctx, gone); err != nil {
				t.Fatal(err)
			}
			waitDispatched(t, pruner, prunerHub)
			// The other replica's prune, with every removal older than its
			// retention.
			n, err := pruner.PruneRemovals(ctx, time.Now().Add(time.Hour), prunerHub.Position())
			if err != nil || n != 1 {
				t.Fatalf("prune: %d removals, %v; want 1", n, err)
			}
			probe := view.Tickets[tickets[9].ID]
			probe.Subject, probe.UpdatedAt = "probe", probe.UpdatedAt.Add(time.Second)
			if err := pruner.UpdateTicket(ctx, probe); err != nil {
				t.Fatal(err)
			}
			gated.open()

			// The dashboard on the laggard is closed, to start afresh,
			// before any later change reaches it.
			err = c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.Tickets[probe.ID].Subject == "probe" })
			if err == nil {
				t.Fatalf("the lagging replica delivered a later change; the dashboard still shows deleted ticket %d: %v", gone, view.Tickets[gone].ID == gone)
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater || !strings.Contains(ce.Reason, "pruned") {
				t.Fatalf("dashboard on the lagging replica: %v; want close 1013 for pruned history", err)
			}
			if _, ok := view.Tickets[gone]; !ok {
				t.Fatalf("the removal reached the dashboard: the test did not lag")
			}
			if got := laggard.Stats().HistoryPruned; got != 1 {
				t.Errorf("HistoryPruned = %d, want 1", got)
			}
			// Resuming with its cursor, on the laggard: resync, and the
			// fresh snapshot has no deleted ticket.
			c = dialView(t, base, "admin", view)
			defer c.Conn.CloseNow()
			if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.Counts.Resyncs > 0 && v.SnapshotDone }); err != nil {
				t.Fatalf("resume after the close: %v", err)
			}
			if view.Counts.Resyncs != 1 {
				t.Errorf("resyncs = %d, want 1", view.Counts.Resyncs)
			}
			if _, ok := view.Tickets[gone]; ok {
				t.Errorf("the deleted ticket %d is still on the dashboard", gone)
			}
			checkView(t, pruner, view, "")
			if got := view.Tickets[probe.ID].Subject; got != "probe" {
				t.Errorf("ticket %d in the fresh snapshot: subject %q, want probe", probe.ID, got)
			}
			// The laggard goes on delivering.
			tk := view.Tickets[tickets[9].ID]
			tk.Subject, tk.UpdatedAt = "after", tk.UpdatedAt.Add(time.Second)
			if err := pruner.UpdateTicket(ctx, tk); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.Tickets[tk.ID].Subject == "after" }); err != nil {
				t.Fatalf("a change after the resync: %v", err)
			}
		})
	}
}

// A writing transaction open in another database while the replica prunes
// a newer removal takes nothing from the dashboards: when it ends, they go
// on — no close, no resync — and one that resumes from a cursor of before
// its end resumes. (Its id was pending in every position read while it was
// open, below the newest removal pruned: the feed once took that for a
// loss, and closed every dashboard of every replica.)
func TestReplicas_ATransactionElsewhereEndingAfterAPruneClosesNoDashboard(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(84).Tickets(50)
	store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
	commitElsewhere := pgtest.OpenWriterElsewhere(t)
	ctx := context.Background()
	view := &wsclient.View{}
	c := dialView(t, base, "admin", view)
	defer c.Conn.CloseNow()
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	gone := tickets[7].ID
	if err := store.DeleteTicket(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { _, ok := v.Tickets[gone]; return !ok }); err != nil {
		t.Fatalf("the removal of ticket %d: %v", gone, err)
	}
	waitDispatched(t, store, hub)
	if n, err := store.PruneRemovals(ctx, time.Now().Add(time.Hour), hub.Position()); err != nil || n != 1 {
		t.Fatalf("prune: %d removals, %v; want 1", n, err)
	}
	before := view.Cursor // the transaction elsewhere pending in it
	commitElsewhere()

	probe := view.Tickets[tickets[9].ID]
	probe.Subject, probe.UpdatedAt = "probe", probe.UpdatedAt.Add(time.Second)
	if err := store.UpdateTicket(ctx, probe); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.Tickets[probe.ID].Subject == "probe" }); err != nil {
		t.Fatalf("a change after the transaction elsewhere ended: %v; want it delivered", err)
	}
	if n := hub.Stats().HistoryPruned; n != 0 {
		t.Errorf("HistoryPruned = %d; nothing the hub lacked was pruned", n)
	}
	// Resuming from its cursor of before the end: no resync.
	c.Conn.Close(websocket.StatusNormalClosure, "")
	view.Cursor = before
	c = dialView(t, base, "admin", view)
	defer c.Conn.CloseNow()
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if view.Counts.Resyncs != 0 {
		t.Errorf("resyncs = %d, want 0", view.Counts.Resyncs)
	}
	checkView(t, store, view, "")
}
