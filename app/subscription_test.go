package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// newTestSubscription is a subscription of h for q, registered but fed
// only by the test's own offers.
func newTestSubscription(h *Hub, q domain.Query) *Subscription {
	s := &Subscription{hub: h, q: q}
	h.mu.Lock()
	h.subs = append(h.subs, s)
	h.mu.Unlock()
	return s
}

func offerChange(h *Hub, s *Subscription, c ports.Change) {
	enc := h.encodeChanges([]ports.Change{c})
	s.offer(enc)
	enc.release()
}

// snapshotChunk streams tickets through a Streamer and returns its one chunk.
func snapshotChunk(t *testing.T, tickets []domain.Ticket) ports.Chunk {
	t.Helper()
	st, err := NewStreamer(&portstest.Source{Tickets: tickets}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	var chunk ports.Chunk
	n := 0
	_, err = st.Stream(context.Background(), domain.Query{}, ports.Comma, ports.ChunkSinkFunc(func(_ context.Context, c ports.Chunk) error {
		chunk = c
		n++
		return nil
	}))
	if err != nil || n != 1 {
		t.Fatalf("stream: %v, %d chunks", err, n)
	}
	return chunk
}

func TestSubscription_SnapshotRowsOfChangedTicketsAreLeftOut(t *testing.T) {
	t.Parallel()
	h, err := NewHub(portstest.NewFeed(), HubConfig{poisonReleased: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tickets := demodata.New(9).Tickets(8)
	for i := range tickets {
		tickets[i].Team, tickets[i].Status = "billing", domain.StatusOpen
	}
	tickets[6].Subject = `a ,{"id":99} inside`
	q := domain.Query{Teams: []string{"billing"}}
	s := newTestSubscription(h, q)
	chunk := snapshotChunk(t, tickets) // read before the changes below
	defer chunk.Release()

	// While the snapshot streams: ticket 1 leaves billing (it is not held
	// yet); ticket 3 changes and its upsert is written before the chunk.
	left := tickets[1]
	left.Team = "sales"
	offerChange(h, s, ports.Change{Pos: domain.ChangePos{Xmax: 10, Seq: 10, ID: left.ID}, Ticket: left})
	changed := tickets[3]
	changed.Subject = "newer"
	offerChange(h, s, ports.Change{Pos: domain.ChangePos{Xmax: 11, Seq: 11, ID: changed.ID}, Ticket: changed})
	ds, err := s.Take(nil, 1<<20)
	if err != nil || len(ds) != 1 || ds[0].ID != changed.ID {
		t.Fatalf("took %d changes (%v), want the upsert of ticket %d alone", len(ds), err, changed.ID)
	}
	ds[0].Release()

	rows, n, leftOut, err := s.HoldSnapshot(chunk, nil)
	if err != nil {
		t.Fatalf("holding the snapshot: %v", err)
	}
	var got []domain.Ticket
	if err := json.Unmarshal(append(append([]byte{'['}, rows...), ']'), &got); err != nil || !leftOut || n != 6 || len(got) != 6 {
		t.Fatalf("kept %d rows (%v, left out: %v): %s", n, err, leftOut, rows)
	}
	for _, tk := range got {
		if tk.ID == left.ID || tk.ID == changed.ID {
			t.Fatalf("the snapshot row of ticket %d, changed since it was read, was kept", tk.ID)
		}
	}
	s.Settle()
	if held := s.Held(); held != 7 {
		t.Fatalf("holds %d tickets, want the 6 snapshot rows and the changed one", held)
	}
	var c countsJSON
	if err := json.Unmarshal(s.AppendCounts(nil, true), &c); err != nil || c.Total != 7 || c.Team["billing"] != 7 || c.Status["open"] != 7 {
		t.Fatalf("counts %+v, %v", c, err)
	}

	// Settled: a held ticket leaving the filter comes as its removal; a
	// ticket never held, as nothing at all.
	gone := tickets[5]
	gone.Team = "sales"
	offerChange(h, s, ports.Change{Pos: domain.ChangePos{Xmax: 12, Seq: 12, ID: gone.ID}, Ticket: gone})
	offerChange(h, s, ports.Change{Pos: domain.ChangePos{Xmax: 13, Seq: 13, ID: left.ID}, Ticket: left})
	offerChange(h, s, ports.Change{Pos: domain.ChangePos{Xmax: 14, Seq: 14, ID: 424242}, Removed: true, Ticket: domain.Ticket{ID: 424242}})
	ds, _ = s.Take(nil, 1<<20)
	if len(ds) != 1 || string(ds[0].Bytes()) != `{"op":"remove","id":`+itoa(gone.ID)+`}` {
		t.Fatalf("took %d changes, want the removal of held ticket %d alone", len(ds), gone.ID)
	}
	ds[0].Release()
	if s.Held() != 6 {
		t.Fatalf("holds %d tickets after a removal, want 6", s.Held())
	}
	s.Close()
	assertHubBuffersReturned(t, h)
}

func itoa(id int64) string { b, _ := json.Marshal(id); return string(b) }

func TestSubscription_AnUpsertNeverTakenIsDroppedWhenTheTicketLeaves(t *testing.T) {
	t.Parallel()
	h, _ := NewHub(portstest.NewFeed(), HubConfig{poisonReleased: true}, nil)
	s := newTestSubscription(h, domain.Query{Teams: []string{"billing"}})
	s.Settle()
	tk := demodata.New(2).Tickets(1)[0]
	tk.Team = "billing"
	offerChange(h, s, ports.Change{Pos: domain.ChangePos{Xmax: 1, Seq: 1, ID: tk.ID}, Ticket: tk})
	tk.Team = "sales"
	offerChange(h, s, ports.Change{Pos: domain.ChangePos{Xmax: 2, Seq: 2, ID: tk.ID}, Ticket: tk})
	if ds, _ := s.Take(nil, 1<<20); len(ds) != 0 {
		t.Fatalf("took %d changes of a ticket that left before the dashboard saw it, want none", len(ds))
	}
	s.Close()
	assertHubBuffersReturned(t, h)
}

func TestSubscription_ADrainedQueueLetsGoOfItsBurst(t *testing.T) {
	t.Parallel()
	h, _ := NewHub(portstest.NewFeed(), HubConfig{poisonReleased: true, QueueBytes: 64 << 20}, nil)
	s := newTestSubscription(h, domain.Query{})
	s.Settle()
	batch := make([]ports.Change, 5000)
	for i, tk := range demodata.New(3).Tickets(len(batch)) {
		batch[i] = ports.Change{Pos: domain.ChangePos{Xmax: 1, Seq: 1, ID: tk.ID}, Ticket: tk}
	}
	enc := h.encodeChanges(batch)
	s.offer(enc)
	enc.release()
	if !s.indexed || cap(s.queue) < len(batch) {
		t.Fatalf("a burst of %d changes: queue of %d, indexed %v", len(batch), cap(s.queue), s.indexed)
	}
	var ds []Delivery
	for s.Waiting() {
		ds, _ = s.Take(ds[:0], 64<<10)
		for i := range ds {
			ds[i].Release()
		}
	}
	if cap(s.queue) > keptQueue || s.index != nil {
		t.Fatalf("drained, the queue keeps an array of %d and an index: %v", cap(s.queue), s.index != nil)
	}
	s.Close()
	if s.view.held.Len() != 0 || s.view.held.slots != nil {
		t.Fatal("a closed subscription keeps its view")
	}
	assertHubBuffersReturned(t, h)
}

func TestSubscription_ClosedAfterOverflowReportsNothing(t *testing.T) {
	t.Parallel()
	h, _ := NewHub(portstest.NewFeed(), HubConfig{poisonReleased: true, QueueBytes: 1024}, nil)
	s := newTestSubscription(h, domain.Query{})
	for i, tk := range demodata.New(3).Tickets(20) {
		offerChange(h, s, ports.Change{Pos: domain.ChangePos{Xmax: uint64(i + 1), Seq: uint64(i + 1), ID: tk.ID}, Ticket: tk})
	}
	if _, err := s.Take(nil, 1<<20); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Take = %v, want ErrOverflow", err)
	}
	s.Close()
	if s.Waiting() {
		t.Fatal("a closed subscription says it has something waiting")
	}
	if ds, err := s.Take(nil, 1<<20); err != nil || len(ds) != 0 {
		t.Fatalf("Take after Close = %d, %v; want nothing: a replaced subscription must not fail its socket", len(ds), err)
	}
}

func TestHub_HandleChangesTakesAnEmptyBatch(t *testing.T) {
	t.Parallel()
	h, _ := NewHub(portstest.NewFeed(), HubConfig{}, nil)
	before := h.Position()
	if err := h.HandleChanges(nil); err != nil || !h.Position().Equal(before) {
		t.Fatalf("HandleChanges(nil) = %v, position %+v → %+v", err, before, h.Position())
	}
}

func TestHub_CatchUpSendsNothingOutsideTheScope(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	tickets := demodata.New(8).Tickets(30)
	for i := range tickets {
		tickets[i].Team = []string{"billing", "sales", "security"}[i%3]
	}
	start := feed.Put(tickets...)
	moved := tickets[0] // billing
	moved.Status = domain.StatusClosed
	feed.Put(moved)
	for i := 1; i < 9; i++ {
		tk := tickets[i]
		tk.Subject = "changed"
		feed.Put(tk)
	}
	h := startHub(t, feed, HubConfig{BatchSize: 4}, nil)
	_, until := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	scope := domain.Scope{Teams: []string{"billing"}}
	q := domain.Query{Teams: []string{"billing"}, Statuses: []domain.Status{domain.StatusNew, domain.StatusOpen, domain.StatusPending}}
	var got []received
	// The dashboard holds what it may: every ticket of billing.
	holds := func(id int64) bool {
		return slices.ContainsFunc(tickets, func(tk domain.Ticket) bool { return tk.ID == id && scope.Allows(tk.Team) })
	}
	err := h.CatchUp(context.Background(), q, start, until, holds, func(ds []Delivery) error {
		for i := range ds {
			got = append(got, decodeDelivery(t, ds[i]))
			ds[i].Release()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		var team string
		for _, tk := range tickets {
			if tk.ID == r.id {
				team = tk.Team
			}
		}
		if team != "billing" {
			t.Fatalf("a billing dashboard's catch-up carried %s of ticket %d of team %s", r.op, r.id, team)
		}
	}
	if len(got) == 0 || got[0].id != moved.ID || got[0].op != "remove" {
		t.Fatalf("catch-up %+v: want first the removal of ticket %d, which left the filter", got, moved.ID)
	}
}

func TestHub_MemoryBudgetFailsTheSubscriptionThatWouldPassIt(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{MemoryBudget: 64 << 10}, nil)
	small, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	big, _, err := h.Subscribe(context.Background(), domain.Query{}, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var chunks []ports.Chunk
	st, _ := NewStreamer(&portstest.Source{Tickets: demodata.New(4).Tickets(20_000)}, Config{})
	_, err = st.Stream(context.Background(), domain.Query{}, ports.Comma, ports.ChunkSinkFunc(func(_ context.Context, c ports.Chunk) error {
		chunks = append(chunks, c)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	var failed error
	for _, c := range chunks {
		if _, _, _, err := big.HoldSnapshot(c, nil); err != nil && failed == nil {
			failed = err
		}
		c.Release()
	}
	if !errors.Is(failed, ErrMemoryBudget) || !errors.Is(big.Err(), ErrMemoryBudget) {
		t.Fatalf("holding 20,000 tickets under a 64 KiB budget: %v", failed)
	}
	if _, err := big.Take(nil, 1<<20); !errors.Is(err, ErrMemoryBudget) {
		t.Fatalf("Take of a subscription failed for the budget = %v", err)
	}
	if used := h.Stats().MemoryBytes; used > 64<<10 {
		t.Fatalf("the failed subscription still keeps its memory: %d bytes in use", used)
	}
	// The others go on.
	tk := demodata.New(5).Tickets(1)
	feed.Put(tk...)
	if got := takeN(t, small, 1); got[0].id != tk[0].ID {
		t.Fatalf("the subscription within budget got %+v", got)
	}
	big.Close()
	small.Close()
	portstest.WaitFor(t, 5*time.Second, "every subscription's memory given back", func() bool { return h.Stats().MemoryBytes == 0 })
}

func TestHub_SubscribeIsRefusedWhileTheBudgetIsSpent(t *testing.T) {
	t.Parallel()
	h := startHub(t, portstest.NewFeed(), HubConfig{MemoryBudget: 1}, nil)
	s, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	s.Apply(nil) // nothing held yet
	s.mu.Lock()
	s.view.put(1, 0, []byte("billing")) // grows the set past 1 byte
	s.accountLocked()
	s.mu.Unlock()
	if _, _, err := h.Subscribe(context.Background(), domain.Query{}, SubscribeOptions{}); !errors.Is(err, ErrMemoryBudget) && h.Stats().MemoryBytes > 0 {
		t.Fatalf("Subscribe with the budget spent = %v", err)
	}
	s.Close()
	if _, _, err := h.Subscribe(context.Background(), domain.Query{}, SubscribeOptions{}); err != nil {
		t.Fatalf("Subscribe once the budget is free again = %v", err)
	}
}

// TestHub_WritesPerChangeFollowTheTeams: with 1,000 dashboards spread over
// 6 teams, a change is queued for the dashboards of its team only — about
// 167 — where every change used to go to all 1,000.
func TestHub_WritesPerChangeFollowTheTeams(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{QueueBytes: 64 << 20}, nil)
	teams := []string{"billing", "sales", "security", "support", "onboarding", "returns"}
	const dashboards = 1000
	subs := make([]*Subscription, dashboards)
	for i := range subs {
		subs[i], _ = subscribe(t, h, domain.Query{Teams: []string{teams[i%len(teams)]}}, domain.ChangePos{})
	}
	tickets := demodata.New(6).Tickets(600)
	for i := range tickets {
		tickets[i].Team = teams[i%len(teams)]
	}
	last := feed.Put(tickets...)
	portstest.WaitFor(t, 10*time.Second, "every change dispatched", func() bool { return h.Position().Includes(last) })
	perChange := float64(h.Stats().Deliveries) / float64(len(tickets))
	t.Logf("%d dashboards over %d teams: %.1f socket writes per change", dashboards, len(teams), perChange)
	if want := float64(dashboards) / float64(len(teams)); perChange > want+1 {
		t.Fatalf("%.1f deliveries per change, want about %.1f: only the dashboards of the ticket's team", perChange, want)
	}
	for _, s := range subs {
		s.Close()
	}
	assertHubBuffersReturned(t, h)
}

// A ticket that left a resumed dashboard's team while it was away, and
// changed again after the dashboard's subscription began, is not in the
// catch-up (its latest change is later) and its live change says nothing of
// the earlier departure: the restore asks the feed what left the
// dashboard's teams since its cursor.
func TestHub_AResumedDashboardHearsOfATicketThatLeftAndChangedAgain(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	tk := demodata.New(12).Tickets(1)[0]
	tk.Team = "billing"
	cursor := feed.Put(tk)
	h := startHub(t, feed, HubConfig{}, nil)
	tk.Team = "sales"
	feed.Put(tk) // left billing while the dashboard was away
	scope := domain.Scope{Teams: []string{"billing"}}
	portstest.WaitFor(t, 5*time.Second, "the move dispatched", func() bool { return h.Position().Includes(cursor) })
	s, pos, err := h.Subscribe(context.Background(), domain.Query{Teams: []string{"billing"}}, SubscribeOptions{SkipUntil: cursor, Resumed: true, Scope: scope, After: cursor})
	if err != nil {
		t.Fatal(err)
	}
	tk.Subject = "changed again, in sales"
	feed.Put(tk)
	st, err := NewStreamer(feed, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RestoreView(context.Background(), domain.Query{Teams: []string{"billing"}}, domain.LiveCursor{SnapshotDone: true, Live: cursor}, s); err != nil {
		t.Fatal(err)
	}
	// The view, restored from the database, does not hold the ticket.
	ds := h.ResumeRemovals(s, pos)
	if len(ds) != 1 || !ds[0].removal || ds[0].ID != tk.ID || !ds[0].Pos.Equal(pos) {
		t.Fatalf("departed removals %+v, want the removal of ticket %d, which the dashboard may hold, at %+v", ds, tk.ID, pos)
	}
	ds[0].Release()
	if again := h.ResumeRemovals(s, pos); len(again) != 0 {
		t.Fatalf("departed removals asked twice: %d", len(again))
	}
	s.Close()
	assertHubBuffersReturned(t, h)
}

// A removal waiting for a resumed dashboard — it may hold the ticket —
// must not be dropped when a later change of the ticket, once the
// subscription has settled and such removals are no longer made, concerns
// the dashboard no more.
func TestSubscription_AWaitingRemovalSurvivesALaterChange(t *testing.T) {
	t.Parallel()
	h, _ := NewHub(portstest.NewFeed(), HubConfig{poisonReleased: true}, nil)
	s := newTestSubscription(h, domain.Query{Teams: []string{"billing"}, Statuses: []domain.Status{domain.StatusOpen}})
	s.resumed, s.scope = true, domain.Scope{Teams: []string{"billing"}}
	tk := demodata.New(3).Tickets(1)[0]
	tk.Team, tk.Status = "billing", domain.StatusPending // left the filter while the dashboard was away
	offerChange(h, s, ports.Change{Pos: domain.ChangePos{Xmax: 5, Seq: 5, ID: tk.ID}, Ticket: tk})
	s.Settle()
	tk.Subject = "changed again, still pending"
	offerChange(h, s, ports.Change{Pos: domain.ChangePos{Xmax: 7, Seq: 7, ID: tk.ID}, Ticket: tk})
	ds, err := s.Take(nil, 1<<20)
	if err != nil || len(ds) != 1 || !ds[0].removal || ds[0].ID != tk.ID || ds[0].Pos.Seq != 7 {
		t.Fatalf("took %+v, %v; want the removal of ticket %d, moved up to position 7", ds, err, tk.ID)
	}
	ds[0].Release()
	s.Close()
	assertHubBuffersReturned(t, h)
}

// A resumed dashboard's counts wait until the latest version of every
// ticket that changed while it was away has been sent — also one a newer
// change of the ticket replaced in the queue, which the dashboard has not
// received either.
func TestSubscription_CountsWaitForAChangeReplacedInTheQueue(t *testing.T) {
	t.Parallel()
	for _, keep := range []int{1, 0} { // replaced; queued behind it (the default)
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			t.Parallel()
			countsWaitForANewerVersion(t, keep)
		})
	}
}

func countsWaitForANewerVersion(t *testing.T, keep int) {
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{KeepVersionsBytes: keep}, nil)
	st, err := NewStreamer(feed, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tk := demodata.New(6).Tickets(1)[0]
	cursor := feed.Put(demodata.New(7).Tickets(1)[0]) // where the dashboard stood
	portstest.WaitFor(t, 5*time.Second, "the hub at the cursor", func() bool { return h.Position().Includes(cursor) })
	s, _, err := h.Subscribe(context.Background(), domain.Query{}, SubscribeOptions{SkipUntil: cursor, After: cursor, Resumed: true, Scope: domain.Scope{AllTeams: true}})
	if err != nil {
		t.Fatal(err)
	}
	feed.Put(tk) // changed after the cursor: the restore sees this version …
	portstest.WaitFor(t, 5*time.Second, "the first version queued", s.Waiting)
	if err := st.RestoreView(context.Background(), domain.Query{}, domain.LiveCursor{SnapshotDone: true, Live: cursor}, s); err != nil {
		t.Fatal(err)
	}
	s.Settle()
	tk.Subject = "newer"
	n := h.Stats().Deliveries
	feed.Put(tk) // … and this one replaces it in the queue, or waits behind it
	portstest.WaitFor(t, 5*time.Second, "the newer version dispatched", func() bool { return h.Stats().Deliveries > n })
	if s.CountsDue() {
		t.Fatal("counts due while the ticket the restore counted has not been sent")
	}
	ds, _ := s.Take(nil, 1<<20)
	for i := range ds {
		ds[i].Release()
	}
	if !s.CountsDue() {
		t.Fatal("counts not due once the ticket's latest version was taken")
	}
	s.Close()
}

// A ticket a resumed dashboard holds left its filter while it was away
// (its status changed), and changes again once the subscription has
// settled: neither the catch-up, which stops before the later change, nor
// the live change, which the view has no reason to send, would tell the
// dashboard. The restore finds it among the tickets changed since the
// cursor, and its removal goes out first.
func TestRestoreView_ATicketThatLeftTheFilterAndChangedAgainIsRemovedFirst(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{}, nil)
	st, err := NewStreamer(feed, Config{})
	if err != nil {
		t.Fatal(err)
	}
	q := domain.Query{Statuses: []domain.Status{domain.StatusOpen}}
	tk := demodata.New(8).Tickets(1)[0]
	tk.Status = domain.StatusOpen
	cursor := feed.Put(tk) // the dashboard holds it, open
	portstest.WaitFor(t, 5*time.Second, "the hub at the cursor", func() bool { return h.Position().Includes(cursor) })
	tk.Status = domain.StatusSolved
	left := feed.Put(tk) // left the filter while the dashboard was away
	portstest.WaitFor(t, 5*time.Second, "the change dispatched", func() bool { return h.Position().Includes(left) })
	s, pos, err := h.Subscribe(context.Background(), q, SubscribeOptions{SkipUntil: cursor, After: cursor, Resumed: true, Scope: domain.Scope{AllTeams: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RestoreView(context.Background(), q, domain.LiveCursor{SnapshotDone: true, Live: cursor}, s); err != nil {
		t.Fatal(err)
	}
	ds := h.ResumeRemovals(s, cursor)
	if len(ds) != 1 || !ds[0].removal || ds[0].ID != tk.ID || !ds[0].Pos.Equal(cursor) {
		t.Fatalf("resume removals %+v, want the removal of ticket %d at the cursor %+v", ds, tk.ID, cursor)
	}
	s.Apply(ds)
	ds[0].Release()
	s.Settle()
	tk.Subject = "changed again, still solved"
	feed.Put(tk)
	portstest.WaitFor(t, 5*time.Second, "the later change dispatched", func() bool { return h.Position().Includes(pos) })
	if !s.CountsDue() {
		t.Fatal("counts not due: nothing the dashboard holds is unknown")
	}
	s.Close()
	assertHubBuffersReturned(t, h)
}

// A ticket of a scoped dashboard's team deleted after the resumed
// subscription began but before its view is restored: the restore does not
// see it, and the hub may read the deletion only once the subscription has
// settled, when a change the view does not hold is none of its business.
// The restore asks what left the scope's teams since the cursor, after
// reading the view.
func TestRestoreView_ADeletionBetweenSubscribeAndRestoreIsRemoved(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	tk := demodata.New(13).Tickets(1)[0]
	tk.Team = "billing"
	cursor := feed.Put(tk)
	h := startHub(t, feed, HubConfig{PollInterval: time.Hour, StallWarning: 2 * time.Hour}, nil) // reads once, then waits
	scope := domain.Scope{Teams: []string{"billing"}}
	q := domain.Query{Teams: []string{"billing"}}
	s, _, err := h.Subscribe(context.Background(), q, SubscribeOptions{SkipUntil: cursor, After: cursor, Resumed: true, Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	feed.Remove(tk.ID)
	st, err := NewStreamer(feed, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RestoreView(context.Background(), q, domain.LiveCursor{SnapshotDone: true, Live: cursor}, s); err != nil {
		t.Fatal(err)
	}
	ds := h.ResumeRemovals(s, cursor)
	if len(ds) != 1 || !ds[0].removal || ds[0].ID != tk.ID {
		t.Fatalf("resume removals %+v, want the removal of deleted ticket %d", ds, tk.ID)
	}
	ds[0].Release()
	s.Close()
	assertHubBuffersReturned(t, h)
}

// A dashboard whose snapshot was cut short holds the rows up to its
// snapshot cursor and those that changed after the snapshot's watermark
// (they came live), not the rest: the rest of the snapshot brings those,
// and a count sent before it would count rows the dashboard never had.
func TestRestoreView_AnUnfinishedSnapshotCountsOnlyWhatWasSent(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	tickets := demodata.New(14).Tickets(4)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range tickets {
		tickets[i].UpdatedAt = base.Add(time.Duration(i) * time.Minute)
	}
	slices.SortFunc(tickets, func(a, b domain.Ticket) int { return a.Cursor().Compare(b.Cursor()) })
	watermark := feed.Put(tickets...)
	h := startHub(t, feed, HubConfig{}, nil)
	st, err := NewStreamer(feed, Config{})
	if err != nil {
		t.Fatal(err)
	}
	// The dashboard was sent the first row, then the last ticket's change,
	// live.
	last := tickets[3]
	last.Subject, last.UpdatedAt = "changed after the watermark", last.UpdatedAt.Add(time.Hour)
	live := feed.Put(last)
	portstest.WaitFor(t, 5*time.Second, "the change dispatched", func() bool { return h.Position().Includes(live) })
	cursor := domain.LiveCursor{Watermark: watermark, Snapshot: tickets[0].Cursor(), Live: live}
	s, _, err := h.Subscribe(context.Background(), domain.Query{}, SubscribeOptions{SkipUntil: live, After: live, Resumed: true, Scope: domain.Scope{AllTeams: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RestoreView(context.Background(), domain.Query{}, cursor, s); err != nil {
		t.Fatal(err)
	}
	if n := s.Held(); n != 2 {
		t.Fatalf("the restored view holds %d tickets, want 2: the first row and the change sent live", n)
	}
	s.Close()
}

// TestSubscription_AHeldTicketCostsAtMost16BytesOfHeap measures what the
// issue asks of a dashboard's view: the heap a subscription holding 10,000,
// 100,000 and 300,000 tickets (over six teams, every status) keeps, after
// a collection, per ticket — the held set, its team names and counts, all
// of it. Not parallel: other tests' allocations would be counted.
func TestSubscription_AHeldTicketCostsAtMost16BytesOfHeap(t *testing.T) {
	teams := [][]byte{[]byte("billing"), []byte("sales"), []byte("security"), []byte("support"), []byte("onboarding"), []byte("returns")}
	h, _ := NewHub(portstest.NewFeed(), HubConfig{}, nil)
	for _, n := range []int{10_000, 100_000, 300_000} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := newTestSubscription(h, domain.Query{})
		s.mu.Lock()
		for id := range n {
			s.view.put(int64(id+1), uint8(id%6), teams[id%len(teams)])
		}
		s.mu.Unlock()
		runtime.GC()
		runtime.ReadMemStats(&after)
		perTicket := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
		runtime.KeepAlive(s)
		t.Logf("%d tickets held: %.1f bytes of heap a ticket", n, perTicket)
		if perTicket > 16 {
			t.Errorf("%d tickets held: %.1f bytes of heap a ticket, want at most 16", n, perTicket)
		}
		s.Close()
	}
}
