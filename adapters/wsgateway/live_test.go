package wsgateway_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// waitHubIdle waits until the hub has dispatched every change so far.
func (f *fixture) waitHubIdle(t *testing.T) {
	t.Helper()
	// 30 s: on a loaded machine (the package's tests at once under -race,
	// beside the rest of the suite) dispatching a fixture's 5,000 tickets
	// once took longer than 10 s in CI.
	portstest.WaitFor(t, 30*time.Second, "the hub to dispatch every change", func() bool {
		h, _ := f.feed.Horizon(context.Background())
		return f.hub.Position().Includes(h)
	})
}

func (f *fixture) base() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") }

func (f *fixture) connect(t *testing.T, query, token string, view *wsclient.View) *wsclient.Client {
	t.Helper()
	c, err := wsclient.Dial(context.Background(), f.base(), query, token, view)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Conn.CloseNow() })
	return c
}

// expectView fails t unless view holds exactly the feed's tickets of q,
// with no duplicate or regressed version on the way.
func expectView(t *testing.T, view *wsclient.View, feed *portstest.Feed, q domain.Query) {
	t.Helper()
	want := portstest.Select(feed.Tickets(), q)
	if len(view.Tickets) != len(want) {
		t.Fatalf("view holds %d tickets, the database %d", len(view.Tickets), len(want))
	}
	for _, w := range want {
		if diff := portstest.DiffTicket(view.Tickets[w.ID], w); diff != "" {
			t.Fatalf("ticket %d in the view: %s", w.ID, diff)
		}
	}
	if view.Counts.Duplicates != 0 || view.Counts.Regressions != 0 {
		t.Fatalf("view saw %d duplicates and %d regressions, want none", view.Counts.Duplicates, view.Counts.Regressions)
	}
	if err := view.CheckTotals(); err != nil {
		t.Fatalf("pushed counts: %v", err)
	}
}

// viewMatches reports whether view holds exactly the feed's tickets of q.
func viewMatches(view *wsclient.View, feed *portstest.Feed, q domain.Query) bool {
	want := portstest.Select(feed.Tickets(), q)
	if len(view.Tickets) != len(want) {
		return false
	}
	for _, w := range want {
		if portstest.DiffTicket(view.Tickets[w.ID], w) != "" {
			return false
		}
	}
	return true
}

// waitView reads until the view matches the feed's tickets of q (or 10s),
// then checks it.
func waitView(t *testing.T, c *wsclient.Client, feed *portstest.Feed, q domain.Query) {
	t.Helper()
	_ = c.WaitFor(context.Background(), 10*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone && viewMatches(v, feed, q) })
	expectView(t, c.View, feed, q)
}

// touch returns t changed as a writer would: new subject, later updated_at.
func touch(t domain.Ticket, subject string) domain.Ticket {
	t.Subject = subject
	t.UpdatedAt = t.UpdatedAt.Add(time.Hour)
	return t
}

func TestLive_ChangesFollowTheSnapshot(t *testing.T) {
	tickets := demodata.New(11).Tickets(300)
	f := newFixture(t, tickets, wsgateway.Options{})
	q := domain.Query{Teams: []string{tickets[0].Team}}
	view := &wsclient.View{}
	c := f.connect(t, "team="+tickets[0].Team, "admin", view)
	ctx := context.Background()
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	expectView(t, view, f.feed, q)

	fresh := demodata.New(12).Tickets(1)[0]
	fresh.ID, fresh.Team = 100000, tickets[0].Team
	f.feed.Put(fresh)                        // a new ticket of the team
	f.feed.Put(touch(tickets[0], "updated")) // an update
	moved := tickets[0]                      // find another of the team to move away
	for _, tk := range tickets[1:] {
		if tk.Team == tickets[0].Team {
			moved = tk
			break
		}
	}
	moved.Team = "elsewhere"
	f.feed.Put(touch(moved, "moved"))         // leaves the filter: removed from the view
	f.feed.Remove(tickets[len(tickets)-1].ID) // deleted
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool {
		_, hasFresh := v.Tickets[fresh.ID]
		_, hasMoved := v.Tickets[moved.ID]
		return hasFresh && !hasMoved && v.Tickets[tickets[0].ID].Subject == "updated"
	}); err != nil {
		t.Fatal(err)
	}
	f.waitHubIdle(t)
	removed := tickets[len(tickets)-1].ID
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { _, ok := v.Tickets[removed]; return !ok }); err != nil {
		t.Fatal(err)
	}
	expectView(t, view, f.feed, q)
	c.Close()
}

func TestLive_ChangesAreInterleavedWithALongSnapshot(t *testing.T) {
	tickets := demodata.New(13).Tickets(3000)
	f := newFixture(t, tickets, wsgateway.Options{})
	f.feed.SetBatchDelay(40 * time.Millisecond) // 3 batches of 1000: the snapshot takes over 100ms
	view := &wsclient.View{}
	c := f.connect(t, "", "admin", view)
	ctx := context.Background()
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.Counts.Rows > 0 }); err != nil {
		t.Fatal(err)
	}
	late := touch(tickets[2999], "changed while the snapshot streams")
	f.feed.Put(late)
	sawChangeBeforeEnd := false
	if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool {
		if v.Counts.Changes > 0 && !v.SnapshotDone {
			sawChangeBeforeEnd = true
		}
		return v.SnapshotDone && v.Counts.Changes > 0
	}); err != nil {
		t.Fatal(err)
	}
	if !sawChangeBeforeEnd {
		t.Fatal("the change waited for the end of the snapshot: it must be written between snapshot chunks")
	}
	expectView(t, view, f.feed, domain.Query{})
	c.Close()
}

func TestLive_ResumeGetsExactlyWhatWasMissed(t *testing.T) {
	tickets := demodata.New(14).Tickets(2500)
	f := newFixture(t, tickets, wsgateway.Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// leave returns once the client should disconnect.
		leave func(c *wsclient.Client) error
	}{
		{"after the snapshot", func(c *wsclient.Client) error {
			return c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone })
		}},
		{"in the middle of the snapshot", func(c *wsclient.Client) error {
			return c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.Counts.Rows > 0 })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			view := &wsclient.View{}
			c := f.connect(t, "", "admin", view)
			if err := tc.leave(c); err != nil {
				t.Fatal(err)
			}
			c.Conn.CloseNow()
			if tc.name == "in the middle of the snapshot" && view.SnapshotDone {
				t.Fatal("the snapshot ended before the client left: the test does not test a resume mid-snapshot")
			}
			// While away: updates, a new ticket, a deletion.
			all := f.feed.Tickets()
			for i := range 50 {
				f.feed.Put(touch(all[i*40], fmt.Sprintf("while away %s %d", tc.name, i)))
			}
			f.feed.Remove(all[7].ID)
			extra := demodata.New(15).Tickets(1)[0]
			extra.ID = 200000 + int64(len(tc.name))
			f.feed.Put(extra)
			f.waitHubIdle(t)

			c = f.connect(t, "", "admin", view)
			if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool {
				_, ok := v.Tickets[extra.ID]
				return v.SnapshotDone && ok
			}); err != nil {
				t.Fatal(err)
			}
			c.WaitFor(ctx, 100*time.Millisecond, func(*wsclient.View) bool { return false })
			if view.Counts.Resyncs != 0 {
				t.Fatal("a resume within the retained history was answered with resync")
			}
			expectView(t, view, f.feed, domain.Query{})
			c.Close()
		})
	}
}

func TestLive_ResyncWhenTheCursorCannotResume(t *testing.T) {
	tickets := demodata.New(16).Tickets(200)
	f := newFixture(t, tickets, wsgateway.Options{})
	ctx := context.Background()
	view := &wsclient.View{}
	c := f.connect(t, "status=open", "admin", view)
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	c.Close()

	// Another filter: the cursor belongs to status=open.
	c = f.connect(t, "status=pending", "admin", view)
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.Counts.Resyncs == 1 && v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	expectView(t, view, f.feed, domain.Query{Statuses: []domain.Status{domain.StatusPending}})
	c.Close()

	// Removals pruned past the cursor: it might have missed one.
	f.feed.Remove(tickets[0].ID, tickets[1].ID)
	f.waitHubIdle(t)
	if _, err := f.feed.PruneRemovals(ctx, time.Now().Add(time.Hour), f.hub.Position()); err != nil {
		t.Fatal(err)
	}
	c = f.connect(t, "status=pending", "admin", view)
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.Counts.Resyncs == 2 && v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	expectView(t, view, f.feed, domain.Query{Statuses: []domain.Status{domain.StatusPending}})
	c.Close()

	// Cut off right after a resync, before the fresh snapshot: the client
	// resumes from the resync's cursor, never again from the refused one
	// (which would continue the old snapshot over an emptied view).
	f.feed.Remove(tickets[2].ID)
	f.waitHubIdle(t)
	if _, err := f.feed.PruneRemovals(ctx, time.Now().Add(time.Hour), f.hub.Position()); err != nil {
		t.Fatal(err)
	}
	c = f.connect(t, "status=pending", "admin", view)
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.Counts.Resyncs == 3 }); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = f.connect(t, "status=pending", "admin", view)
	// The resumed snapshot's counts come once they describe what the view
	// holds: the resync dropped the ones before it.
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone && v.CheckTotals() == nil }); err != nil {
		t.Fatal(err)
	}
	if view.Counts.Resyncs != 3 {
		t.Fatalf("%d resyncs: the client resumed from the refused cursor again", view.Counts.Resyncs)
	}
	expectView(t, view, f.feed, domain.Query{Statuses: []domain.Status{domain.StatusPending}})
	c.Close()
}

func TestLive_ABehindClientIsClosedWith1013AndResumes(t *testing.T) {
	tickets := demodata.New(17).Tickets(500)
	f := newFixtureWith(t, tickets, wsgateway.Options{}, app.HubConfig{QueueBytes: 16 * 1024})
	ctx := context.Background()
	view := &wsclient.View{}
	c := f.connect(t, "", "admin", view)
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	// The client stops reading; the server cannot write; changes pile up
	// past what coalescing can hold.
	for round := range 20 {
		for i := range 500 {
			f.feed.Put(touch(tickets[i], fmt.Sprintf("round %d %s", round, strings.Repeat("x", 400))))
		}
		if f.hub.Stats().Overflows > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	portstest.WaitFor(t, 10*time.Second, "the subscriber dropped", func() bool { return f.hub.Stats().Overflows > 0 })
	var err error
	for err == nil {
		_, err = c.Next(ctx)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater {
		t.Fatalf("a client that fell behind was closed with %v, want 1013", err)
	}
	// Writers calm down; the client comes back with its last cursor and
	// catches up without a snapshot.
	f.waitHubIdle(t)
	rowsBefore := view.Counts.Rows
	c = f.connect(t, "", "admin", view)
	waitView(t, c, f.feed, domain.Query{})
	if view.Counts.Rows != rowsBefore || view.Counts.Resyncs != 0 {
		t.Fatalf("the resume sent %d snapshot rows and %d resyncs, want only the missed changes", view.Counts.Rows-rowsBefore, view.Counts.Resyncs)
	}
	c.Close()
}

// An idle dashboard costs one goroutine: its reader. The writer runs only
// while there is something to write, and pings come from one gateway-wide
// goroutine.
func TestLive_IdleDashboardsHoldOneGoroutineEach(t *testing.T) {
	tickets := demodata.New(18).Tickets(50)
	f := newFixture(t, tickets, wsgateway.Options{})
	ctx := context.Background()
	warm := f.connect(t, "", "admin", &wsclient.View{}) // starts the gateway's pinger
	if err := warm.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 40
	clients := make([]*wsclient.Client, n)
	for i := range clients {
		clients[i] = f.connect(t, "", "admin", &wsclient.View{})
	}
	for _, c := range clients {
		if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
			t.Fatal(err)
		}
	}
	// The clients here read only when asked, so they add no goroutines: the
	// growth is the server's, and must be one per socket.
	portstest.WaitFor(t, 5*time.Second, "idle sockets to hold one goroutine each", func() bool {
		return runtime.NumGoroutine()-before <= n
	})
	// A change wakes every writer, which then goes idle again.
	f.feed.Put(touch(tickets[0], "wake every writer"))
	for _, c := range clients {
		if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool { return v.Tickets[tickets[0].ID].Subject == "wake every writer" }); err != nil {
			t.Fatal(err)
		}
	}
	portstest.WaitFor(t, 5*time.Second, "the writers to go idle again", func() bool {
		return runtime.NumGoroutine()-before <= n
	})
}

// A cursor refused for another filter may come from a replica further
// along than this one: the fresh subscription must not skip the changes
// up to it, which its snapshot leaves to live delivery.
func TestLive_ResyncFromACursorAheadSkipsNothing(t *testing.T) {
	tickets := demodata.New(19).Tickets(30)
	f := newFixture(t, tickets, wsgateway.Options{})
	ctx := context.Background()
	f.waitHubIdle(t)
	f.feed.SetErr(errors.New("this replica lags"))
	portstest.WaitFor(t, 5*time.Second, "the hub to stall", func() bool { return f.hub.Stats().ReadErrors > 0 })
	late := touch(tickets[3], "written while this replica lagged")
	at := f.feed.Put(late)
	ahead := domain.LiveCursor{Filter: domain.FilterHash(domain.Query{Statuses: []domain.Status{domain.StatusOpen}}), Watermark: at, Live: at}
	view := &wsclient.View{Cursor: f.cursors.LiveCursorString(ahead)}
	c := f.connect(t, "", "admin", view)
	f.feed.SetErr(nil)
	if err := c.WaitFor(ctx, 5*time.Second, func(v *wsclient.View) bool {
		return v.Counts.Resyncs == 1 && v.SnapshotDone && v.Tickets[late.ID].Subject == late.Subject
	}); err != nil {
		t.Fatalf("after a resync from a cursor ahead of the hub: %v (resyncs %d, ticket %d is %q)", err, view.Counts.Resyncs, late.ID, view.Tickets[late.ID].Subject)
	}
	expectView(t, view, f.feed, domain.Query{})
	c.Close()
}

// A search (q) holds live: a change that makes a ticket match arrives as an
// upsert, one that makes a held ticket stop matching as a removal, and a
// scoped dashboard hears nothing of another team's ticket that matches.
func TestLive_SearchFollowsChanges(t *testing.T) {
	tickets := demodata.New(13).Tickets(400)
	f := newFixture(t, tickets, wsgateway.Options{})
	q := domain.Query{Search: "refund"}
	all := &wsclient.View{}
	c := f.connect(t, "q=REFUND", "admin", all) // folded: refund, Refund, REFUND
	billingQ := domain.Query{Search: "refund", Teams: []string{"billing"}}
	billingView := &wsclient.View{}
	b := f.connect(t, "q=refund", "billing", billingView)
	ctx := context.Background()
	waitView(t, c, f.feed, q)
	waitView(t, b, f.feed, billingQ)
	if len(all.Tickets) == 0 || len(all.Tickets) == len(tickets) {
		t.Fatalf("the search holds %d of %d tickets: the case tests nothing", len(all.Tickets), len(tickets))
	}

	var matching, other domain.Ticket // a held ticket, and one of another team that does not match
	for _, tk := range tickets {
		if q.MatchesFilter(&tk) && matching.ID == 0 {
			matching = tk
		}
		if !q.MatchesFilter(&tk) && tk.Team != "billing" && other.ID == 0 {
			other = tk
		}
	}
	before := billingView.Counts.Changes
	f.feed.Put(touch(other, "Please REFUND the second charge")) // now matches: an upsert
	f.feed.Put(touch(matching, "Nothing to give back"))         // no longer matches: a removal
	marker := tickets[0]
	for _, tk := range tickets {
		if tk.Team == "billing" && tk.ID != matching.ID {
			marker = tk
			break
		}
	}
	f.feed.Put(touch(marker, "Refund marker"))
	if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool {
		_, held := v.Tickets[matching.ID]
		return !held && v.Tickets[other.ID].Subject == "Please REFUND the second charge" && v.Tickets[marker.ID].Subject == "Refund marker"
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return v.Tickets[marker.ID].Subject == "Refund marker" }); err != nil {
		t.Fatal(err)
	}
	f.waitHubIdle(t)
	waitView(t, c, f.feed, q)
	waitView(t, b, f.feed, billingQ)
	want := 1 // the marker
	if matching.Team == "billing" {
		want++ // the billing dashboard held it: its removal
	}
	if got := billingView.Counts.Changes - before; got != want {
		t.Fatalf("the billing dashboard was sent %d changes, want %d: it heard of another team's ticket", got, want)
	}
}
