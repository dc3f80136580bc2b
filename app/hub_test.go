package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// startHub runs a hub over feed until the test ends.
func startHub(t *testing.T, feed *portstest.Feed, cfg HubConfig, log *slog.Logger) *Hub {
	t.Helper()
	cfg.poisonReleased = true
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Millisecond
	}
	h, err := NewHub(feed, cfg, log)
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return h
}

func subscribe(t *testing.T, h *Hub, q domain.Query, skip domain.ChangePos) (*Subscription, domain.ChangePos) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, pos, err := h.Subscribe(ctx, q, SubscribeOptions{SkipUntil: skip})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	s.Settle() // no snapshot: everything it holds comes live
	return s, pos
}

// received is what a subscriber got: each delivery decoded.
type received struct {
	op     string
	id     int64
	ticket domain.Ticket
	raw    []byte
	pos    domain.ChangePos
}

// wakeups returns a channel signalled whenever changes start waiting in s
// (or s fails), as the socket's writer is kicked through SetNotify.
func wakeups(s *Subscription) <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.SetNotify(func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	return ch
}

// takeN waits until s has delivered n changes and returns them decoded,
// each checked for valid JSON before its release.
func takeN(t *testing.T, s *Subscription, n int) []received {
	t.Helper()
	ready := wakeups(s)
	var out []received
	deadline := time.After(5 * time.Second)
	var batch []Delivery
	for len(out) < n {
		var err error
		batch, err = s.Take(batch[:0], 64*1024)
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		for i := range batch {
			out = append(out, decodeDelivery(t, batch[i]))
			batch[i].Release()
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ready:
		case <-deadline:
			t.Fatalf("got %d changes in 5s, want %d", len(out), n)
		}
	}
	return out
}

func decodeDelivery(t *testing.T, d Delivery) received {
	t.Helper()
	var m struct {
		Op     string         `json:"op"`
		ID     int64          `json:"id"`
		Ticket *domain.Ticket `json:"ticket"`
	}
	if err := json.Unmarshal(d.Bytes(), &m); err != nil {
		t.Fatalf("delivery at %+v is not JSON (%v): %q", d.Pos, err, d.Bytes())
	}
	r := received{op: m.Op, id: m.ID, raw: bytes.Clone(d.Bytes()), pos: d.Pos}
	if m.Ticket != nil {
		r.ticket, r.id = *m.Ticket, m.Ticket.ID
	}
	if r.id != d.ID {
		t.Fatalf("delivery for ticket %d holds ticket %d", d.ID, r.id)
	}
	return r
}

func assertHubBuffersReturned(t *testing.T, h *Hub) {
	t.Helper()
	portstest.WaitFor(t, 5*time.Second, "every shared buffer back in the pool", func() bool { return h.PoolStats().InUse() == 0 })
}

func TestHub_FansEachChangeOutOnlyToSubscribersItConcerns(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{}, nil)
	all, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	billing, _ := subscribe(t, h, domain.Query{Teams: []string{"billing"}}, domain.ChangePos{})
	urgent, _ := subscribe(t, h, domain.Query{Priorities: []domain.Priority{domain.PriorityUrgent}}, domain.ChangePos{})

	tickets := demodata.New(3).Tickets(40)
	tickets[0].Team, tickets[0].Priority = "billing", domain.PriorityUrgent
	tickets[1].Team, tickets[1].Priority = "billing", domain.PriorityLow
	tickets[2].Team, tickets[2].Priority = "security", domain.PriorityUrgent
	for i := 3; i < len(tickets); i++ {
		if tickets[i].Team == "billing" {
			tickets[i].Team = "sales"
		}
	}
	feed.Put(tickets...)

	subs := map[string]*Subscription{"all": all, "billing": billing, "urgent": urgent}
	queries := map[string]domain.Query{"all": {}, "billing": {Teams: []string{"billing"}}, "urgent": {Priorities: []domain.Priority{domain.PriorityUrgent}}}
	matching := func(name string) []domain.Ticket {
		var out []domain.Ticket
		for _, tk := range tickets {
			if q := queries[name]; q.MatchesFilter(&tk) {
				out = append(out, tk)
			}
		}
		return out
	}
	for name, s := range subs {
		want := matching(name)
		got := takeN(t, s, len(want))
		for i, r := range got {
			wantJSON, _ := json.Marshal(want[i])
			if r.op != "upsert" || !strings.Contains(string(r.raw), string(wantJSON)) {
				t.Fatalf("%s: change %d = %s, want upsert of %s", name, i, r.raw, wantJSON)
			}
		}
	}
	// Ticket 0 (billing, urgent) leaves billing; ticket 1 (billing) is
	// deleted; ticket 3 (not billing) is deleted.
	moved := tickets[0]
	moved.Team = "sales"
	feed.Put(moved)
	feed.Remove(tickets[1].ID, tickets[3].ID)
	marker := tickets[4]
	marker.Team, marker.Priority, marker.Subject = "billing", domain.PriorityUrgent, "marker"
	feed.Put(marker)
	urgentOps := []string{"upsert 0"}
	if tickets[3].Priority == domain.PriorityUrgent {
		urgentOps = append(urgentOps, "remove 3") // held: it was urgent
	}
	wantOps := map[string][]string{
		"all":     {"upsert 0", "remove 1", "remove 3", "upsert 4"},
		"billing": {"remove 0", "remove 1", "upsert 4"},
		"urgent":  append(urgentOps, "upsert 4"),
	}
	for name, want := range wantOps {
		got := takeN(t, subs[name], len(want))
		for i, r := range got {
			var which int
			for k := range tickets {
				if tickets[k].ID == r.id {
					which = k
				}
			}
			if g := fmt.Sprintf("%s %d", r.op, which); g != want[i] {
				t.Fatalf("%s: change %d = %s, want %s (a subscriber hears only of the tickets it may hold)", name, i, g, want[i])
			}
		}
		if ds, _ := subs[name].Take(nil, 1<<20); len(ds) != 0 {
			t.Fatalf("%s: %d more changes after the marker", name, len(ds))
		}
	}
	for _, s := range subs {
		s.Close()
	}
	assertHubBuffersReturned(t, h)
	if n := h.Stats().Changes; n != 44 {
		t.Fatalf("hub read %d changes, want 44", n)
	}
}

func TestHub_SubscribersShareOneEncoding(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{}, nil)
	a, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	b, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	feed.Put(demodata.New(4).Tickets(1)...)
	portstest.WaitFor(t, 5*time.Second, "a change for both", func() bool { return h.Stats().Deliveries == 2 })
	da, _ := a.Take(nil, 1<<20)
	db, _ := b.Take(nil, 1<<20)
	if len(da) != 1 || len(db) != 1 {
		t.Fatalf("took %d and %d changes, want 1 each", len(da), len(db))
	}
	if unsafe.SliceData(da[0].Bytes()) != unsafe.SliceData(db[0].Bytes()) {
		t.Fatal("two subscribers got two copies of one change: it must be encoded once and shared")
	}
	da[0].Release()
	if h.PoolStats().InUse() != 1 {
		t.Fatal("the shared buffer went back to the pool while a subscriber still held it")
	}
	db[0].Release()
	assertHubBuffersReturned(t, h)
	a.Close()
	b.Close()
}

func TestHub_SubscribePositionSplitsOldChangesFromNew(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	gen := demodata.New(5)
	before := feed.Put(gen.Tickets(3)...)
	h := startHub(t, feed, HubConfig{}, nil)
	s, pos := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	if !pos.Includes(before) {
		t.Fatalf("subscribed at %+v, not after the changes made before the hub started (%+v)", pos, before)
	}
	later := gen.Tickets(2)
	feed.Put(later...)
	got := takeN(t, s, 2)
	if got[0].id != later[0].ID || got[1].id != later[1].ID {
		t.Fatalf("got tickets %d, %d; want the two put after subscribing", got[0].id, got[1].id)
	}
	for _, r := range got {
		if pos.Covers(r.pos.Seq, r.pos.ID) {
			t.Fatalf("got a change at %+v, at or before the subscription's position %+v", r.pos, pos)
		}
	}

	// skipUntil: a client resumed here after another replica, further
	// along, sent it changes this hub has not dispatched yet.
	feed.SetErr(errors.New("paused"))
	portstest.WaitFor(t, 5*time.Second, "the feed paused", func() bool { return h.Stats().ReadErrors > 0 })
	more := gen.Tickets(3)
	mid := feed.Put(more[:2]...)
	feed.Put(more[2:]...)
	skipper, _ := subscribe(t, h, domain.Query{}, mid)
	feed.SetErr(nil)
	if got := takeN(t, skipper, 1); got[0].id != more[2].ID {
		t.Fatalf("resumed subscriber got ticket %d first, want %d: changes at or before its position are skipped", got[0].id, more[2].ID)
	}
	s.Close()
	skipper.Close()
	assertHubBuffersReturned(t, h)
}

func TestHub_CoalescesABehindSubscriberToTheLatestVersions(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{KeepVersionsBytes: 1}, nil)
	s, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	tk := demodata.New(6).Tickets(2)
	one, two := tk[0], tk[1]
	put := func(tk domain.Ticket) { // one at a time, each queued for the subscriber
		n := h.Stats().Deliveries
		feed.Put(tk)
		portstest.WaitFor(t, 5*time.Second, "the change queued", func() bool { return h.Stats().Deliveries == n+1 })
	}
	put(one)
	put(two)
	for i := range 5 {
		one.Subject = fmt.Sprintf("version %d", i)
		put(one)
	}
	got := takeN(t, s, 2)
	if got[0].id != two.ID || got[1].ticket.Subject != "version 4" {
		t.Fatalf("behind subscriber got %s then %s; want ticket %d, then ticket %d at its latest version", got[0].raw, got[1].raw, two.ID, one.ID)
	}
	if n := h.Stats().Coalesced; n != 5 {
		t.Fatalf("coalesced %d versions, want 5", n)
	}
	s.Close()
	assertHubBuffersReturned(t, h)
}

// A dashboard whose writer is a few versions behind (less than
// KeepVersionsBytes waiting) gets every version of a ticket, in order —
// and when the ticket then leaves its filter before any was written, a
// removal after them, since the versions will put it on the dashboard.
func TestHub_ASubscriberALittleBehindGetsEveryVersion(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{}, nil)
	s, _ := subscribe(t, h, domain.Query{Statuses: []domain.Status{domain.StatusOpen}}, domain.ChangePos{})
	tk := demodata.New(6).Tickets(1)[0]
	tk.Status = domain.StatusOpen
	put := func(tk domain.Ticket) {
		n := h.Stats().Changes
		feed.Put(tk)
		portstest.WaitFor(t, 5*time.Second, "the change read", func() bool { return h.Stats().Changes == n+1 })
	}
	for i := range 4 {
		tk.Subject = fmt.Sprintf("version %d", i)
		put(tk)
	}
	tk.Status = domain.StatusSolved
	put(tk)
	got := takeN(t, s, 5)
	for i, r := range got[:4] {
		if r.op != "upsert" || r.ticket.Subject != fmt.Sprintf("version %d", i) {
			t.Fatalf("delivery %d: %s; want version %d", i, r.raw, i)
		}
	}
	if got[4].op != "remove" || got[4].id != tk.ID {
		t.Fatalf("last delivery %s; want the ticket's removal", got[4].raw)
	}
	if n := h.Stats().Coalesced; n != 0 {
		t.Fatalf("coalesced %d versions, want none", n)
	}
	s.Close()
	assertHubBuffersReturned(t, h)
}

// TestSubscription_QueueKeepsVersionsInPositionOrder checks a subscriber's
// queue against a model, for queues short enough to be searched and long
// enough to be indexed, keeping every version while short or only the
// latest: after any mix of changes and takes, what is taken is in the
// order of the versions' positions, each version at most once, and a
// version is missing only when a newer one of its ticket arrived while
// KeepVersionsBytes or more waited.
func TestSubscription_QueueKeepsVersionsInPositionOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		tickets   int // distinct tickets changed
		takeEvery int // one operation in takeEvery is a take, the others changes
		takeMax   int // most bytes per take: small takes leave queues long
	}{
		{"few tickets, searched", 3, 4, 1 << 20},
		{"many tickets, indexed", 200, 100, 1 << 20},
		{"many tickets, small takes", 200, 3, 600},
		{"around the index bound", indexUntil + 1, 40, 1 << 20},
	} {
		for _, keep := range []int{1, 4096, 64 << 10} {
			t.Run(fmt.Sprintf("%s/keep=%d", tc.name, keep), func(t *testing.T) {
				t.Parallel()
				h, err := NewHub(portstest.NewFeed(), HubConfig{poisonReleased: true, QueueBytes: 64 << 20, KeepVersionsBytes: keep}, nil)
				if err != nil {
					t.Fatal(err)
				}
				s := &Subscription{hub: h}
				rng := rand.New(rand.NewPCG(7, uint64(tc.tickets)))
				tickets := demodata.New(8).Tickets(tc.tickets)
				type version struct {
					id      int64
					seq     uint64
					subject string
					size    int
				}
				var model []version // what waits, in position order
				waiting := 0        // bytes
				seq := uint64(0)
				indexed, kept := false, 0
				for range 5000 {
					indexed = indexed || s.indexed
					if rng.IntN(tc.takeEvery) > 0 { // a change
						tk := tickets[rng.IntN(len(tickets))]
						seq++
						tk.Subject = fmt.Sprintf("version %d", seq)
						enc := h.encodeChanges([]ports.Change{{Pos: domain.ChangePos{Xmax: seq, Seq: seq, ID: tk.ID}, Ticket: tk}})
						v := version{tk.ID, seq, tk.Subject, len(enc.items[0].upsert)}
						s.offer(enc)
						enc.release()
						last := -1
						for j := len(model) - 1; j >= 0; j-- {
							if model[j].id == tk.ID {
								last = j
								break
							}
						}
						if last >= 0 {
							if waiting+v.size >= keep {
								waiting -= model[last].size
								model = slices.Delete(model, last, last+1)
							} else {
								kept++
							}
						}
						model = append(model, v)
						waiting += v.size
						continue
					}
					got, err := s.Take(nil, tc.takeMax)
					if err != nil {
						t.Fatal(err)
					}
					if len(model) > 0 && len(got) == 0 {
						t.Fatalf("took nothing with %d versions waiting", len(model))
					}
					for i := range got {
						r := decodeDelivery(t, got[i])
						got[i].Release()
						want := model[0]
						if r.id != want.id || r.pos.Seq != want.seq || r.ticket.Subject != want.subject {
							t.Fatalf("took ticket %d at %d (%q); want ticket %d at %d (%q)", r.id, r.pos.Seq, r.ticket.Subject, want.id, want.seq, want.subject)
						}
						model = model[1:]
						waiting -= want.size
					}
				}
				if indexed != (tc.tickets > indexUntil) {
					t.Errorf("queue indexed: %v; want %v with %d tickets", indexed, !indexed, tc.tickets)
				}
				if keep > 1 && kept == 0 && tc.tickets < 50 {
					t.Errorf("no two versions of a ticket waited together: the case tests nothing")
				}
				s.hub.mu.Lock() // Close unsubscribes: register it first
				h.subs = append(h.subs, s)
				s.hub.mu.Unlock()
				s.Close()
				if n := h.PoolStats().InUse(); n != 0 {
					t.Fatalf("%d shared buffers still in use after Close", n)
				}
			})
		}
	}
}

func TestHub_DropsASubscriberThatStillFallsTooFarBehind(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{QueueBytes: 8 * 1024}, nil)
	slow, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	fast, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	feed.Put(demodata.New(7).Tickets(100)...)
	portstest.WaitFor(t, 5*time.Second, "the slow subscriber dropped", func() bool { return h.Stats().Overflows >= 1 })
	if _, err := slow.Take(nil, 1<<20); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Take of an overflowed subscriber = %v, want ErrOverflow", err)
	}
	slow.Close()
	fast.Close()
	assertHubBuffersReturned(t, h)
	if n := h.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers left after closing both", n)
	}
}

func TestHub_CatchUpReadsARangeWithRemovalsOutsideTheFilter(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	tickets := demodata.New(8).Tickets(20)
	start := feed.Put(tickets[:5]...)
	feed.Put(tickets[5:]...)
	h := startHub(t, feed, HubConfig{BatchSize: 4}, nil)
	_, until := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	q := domain.Query{Teams: []string{tickets[7].Team}}
	var got []received
	holdsAll := func(int64) bool { return true } // a dashboard of every ticket
	err := h.CatchUp(context.Background(), q, start, until, holdsAll, func(ds []Delivery) error {
		for i := range ds {
			got = append(got, decodeDelivery(t, ds[i]))
			ds[i].Release()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	if len(got) != 15 {
		t.Fatalf("caught up %d changes, want the 15 after the start", len(got))
	}
	for i, r := range got {
		want := tickets[5+i]
		wantOp := "remove"
		if q.MatchesFilter(&want) {
			wantOp = "upsert"
		}
		if r.id != want.ID || r.op != wantOp {
			t.Fatalf("change %d = %s %d, want %s %d", i, r.op, r.id, wantOp, want.ID)
		}
	}
	h.Subscribers()
	assertHubBuffersReturned(t, h)
}

func TestHub_RecoversFromFeedErrorsWithoutLosingChanges(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{RetryMax: 5 * time.Millisecond}, nil)
	s, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	feed.SetErr(errors.New("database restarting"))
	tickets := demodata.New(9).Tickets(10)
	feed.Put(tickets...)
	portstest.WaitFor(t, 5*time.Second, "a failed read", func() bool { return h.Stats().ReadErrors >= 2 })
	feed.SetErr(nil)
	got := takeN(t, s, 10)
	for i, r := range got {
		if r.id != tickets[i].ID {
			t.Fatalf("change %d is ticket %d, want %d", i, r.id, tickets[i].ID)
		}
	}
	s.Close()
}

// A writer left open stalls nothing: it is named in a warning (it holds
// back the pruning of the history), and the stall measured is the feed's
// own — a database that stopped answering for the stall warning's 2 s,
// far longer than any pause between reads of a feed that answers.
func TestHub_AnOpenWriterIsNamedAndAFeedThatStopsIsAStall(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	var logs portstest.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	feed.SetWriter(ports.Writer{Age: time.Minute, PID: 4242, Application: "psql"})
	h := startHub(t, feed, HubConfig{StallWarning: 2 * time.Second, RetryMax: 5 * time.Millisecond}, log)
	portstest.Await(t, "a warning naming the writer", func() bool {
		return strings.Contains(logs.String(), "live delivery does not wait for it") && strings.Contains(logs.String(), "pid=4242")
	})
	if got := h.Stats().Stalled; got != 0 {
		t.Fatalf("Stalled = %v while the feed answers: an open writer stalls nothing", got)
	}
	feed.SetErr(errors.New("database away"))
	portstest.Await(t, "the stall to be measured", func() bool { return h.Stats().Stalled > 0 })
	feed.SetErr(nil)
	portstest.Await(t, "the stall to end", func() bool { return h.Stats().Stalled == 0 })
}

// More transactions open at once than a cursor has room for — 400 here,
// with consecutive numbers, in any database of the server — stall no
// delivery: a change committed meanwhile arrives. The gauge says how many
// a cursor handed out now leaves out, a warning says what that costs (a
// resume sends again what the dashboard had), and both clear once the
// transactions end.
func TestHub_MoreOpenTransactionsThanACursorRecords(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	var logs portstest.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h := startHub(t, feed, HubConfig{StallWarning: time.Second, RetryMax: 5 * time.Millisecond}, log)
	s, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	var open []*portstest.Tx
	for range 400 {
		open = append(open, feed.Begin())
	}
	ticket := demodata.New(32).Tickets(1)[0]
	feed.Put(ticket)
	if got := takeN(t, s, 1); got[0].id != ticket.ID {
		t.Fatalf("got ticket %d, want %d", got[0].id, ticket.ID)
	}
	portstest.Await(t, "the gauge to count what cursors leave out", func() bool {
		n := h.Stats().UnrecordedPending
		return n > 0 && n < 400
	})
	portstest.Await(t, "a warning of what a resume costs now", func() bool {
		return strings.Contains(logs.String(), "more transactions are open on the database server than a cursor records")
	})
	if got := h.Stats().Stalled; got != 0 {
		t.Fatalf("Stalled = %v: open transactions stall nothing", got)
	}
	for _, tx := range open {
		tx.Rollback()
	}
	feed.Put(ticket)
	takeN(t, s, 1)
	portstest.Await(t, "the gauge to clear", func() bool { return h.Stats().UnrecordedPending == 0 })
	portstest.Await(t, "word that cursors record every open transaction again", func() bool {
		return strings.Contains(logs.String(), "cursors record every open transaction again")
	})
}

// A database that hangs — its connection open, no answer to anything, as
// behind a network that stopped forwarding or a lock the read waits on —
// is a stall all the same: the gauge counts it though the writers' query
// and the prune hang too, a warning names the session holding the lock
// (not the oldest writer of the server, which may be in another
// database), the hung read gives up at its deadline and is retried, and a
// change committed meanwhile arrives once the database answers again.
func TestHub_AHungDatabaseIsAStall(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	var logs portstest.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	feed.SetWriter(ports.Writer{Age: time.Hour, PID: 777, Application: "nightly-import-elsewhere"})
	feed.SetLockHolder(ports.Writer{Age: time.Minute, PID: 888, Application: "psql", State: "idle in transaction"})
	h := startHub(t, feed, HubConfig{StallWarning: 2 * time.Second, PruneInterval: 50 * time.Millisecond,
		RetryMax: 5 * time.Millisecond, ReadTimeout: 300 * time.Millisecond}, log)
	s, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	release := feed.Hang()
	defer release()
	ticket := demodata.New(31).Tickets(1)[0]
	feed.Put(ticket) // committed while the database hangs
	portstest.Await(t, "the stall to be measured while every call hangs", func() bool { return h.Stats().Stalled > 0 })
	portstest.Await(t, "a stall warning, and one naming the lock's holder", func() bool {
		return strings.Contains(logs.String(), "the change feed has not answered") &&
			strings.Contains(logs.String(), "waits on a lock another session holds") && strings.Contains(logs.String(), "pid=888")
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "pid=777") && !strings.Contains(line, "live delivery does not wait for it") {
			t.Fatalf("the oldest writer, in another database, named as what stalls the feed: %s", line)
		}
	}
	if !strings.Contains(logs.String(), "the database answered no page for 300ms") {
		t.Fatalf("the hung read's failure does not say why:\n%s", logs.String())
	}
	if h.Stats().ReadErrors == 0 {
		t.Fatal("no read failed: the hung read did not give up at its deadline")
	}
	release()
	got := takeN(t, s, 1)
	if got[0].id != ticket.ID {
		t.Fatalf("after the hang got ticket %d, want %d", got[0].id, ticket.ID)
	}
	portstest.Await(t, "the stall to end", func() bool { return h.Stats().Stalled == 0 })
	portstest.Await(t, "word that the feed answers again", func() bool {
		return strings.Contains(logs.String(), "the change feed answers again")
	})
}

// TestHub_DeliversAChangeWhileAnOlderTransactionStaysOpen: a transaction
// begun first and left open holds back no change committed after it, and
// its own changes arrive when it commits — once, and to a subscriber that
// joined while it was open.
func TestHub_DeliversAChangeWhileAnOlderTransactionStaysOpen(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{}, nil)
	early, _ := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	tickets := demodata.New(12).Tickets(4)
	long := feed.Begin() // takes its transaction number first
	long.Put(tickets[0])
	feed.Put(tickets[1]) // a later transaction commits
	got := takeN(t, early, 1)
	if got[0].id != tickets[1].ID {
		t.Fatalf("got ticket %d, want %d, committed while an older transaction was open", got[0].id, tickets[1].ID)
	}
	late, pos := subscribe(t, h, domain.Query{}, domain.ChangePos{})
	if len(pos.Pending) == 0 {
		t.Fatalf("subscribed at %v while a transaction was open: it should be pending", pos)
	}
	feed.Put(tickets[2])
	long.Commit()
	for _, s := range []*Subscription{early, late} {
		got := takeN(t, s, 2)
		ids := []int64{got[0].id, got[1].id}
		slices.Sort(ids)
		want := []int64{tickets[0].ID, tickets[2].ID}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("got tickets %v, want %v: the later change and the long transaction's", ids, want)
		}
		if !got[1].pos.Covers(got[0].pos.Seq, got[0].pos.ID) || !got[1].pos.Covers(got[1].pos.Seq, got[1].pos.ID) {
			t.Fatalf("the second change's position %v lacks the first %v or itself", got[1].pos, got[0].pos)
		}
	}
	// Nothing twice.
	feed.Put(tickets[3])
	for _, s := range []*Subscription{early, late} {
		if got := takeN(t, s, 1); got[0].id != tickets[3].ID {
			t.Fatalf("after the commit got ticket %d again, want only %d", got[0].id, tickets[3].ID)
		}
		s.Close()
	}
}

// Under -race: many subscribers take and release at their own pace while
// changes pour in; every delivery must be intact when read (buffers are
// poisoned on release) and every buffer must come back.
func TestHub_ReferenceCountingUnderConcurrency(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	h := startHub(t, feed, HubConfig{}, nil)
	const subscribers, changes = 16, 3000
	tickets := demodata.New(10).Tickets(300)
	var wg sync.WaitGroup
	errs := make(chan error, subscribers)
	subs := make([]*Subscription, subscribers)
	wakes := make([]<-chan struct{}, subscribers)
	for i := range subs {
		subs[i], _ = subscribe(t, h, domain.Query{}, domain.ChangePos{})
		wakes[i] = wakeups(subs[i])
	}
	final := map[int64]string{}
	for i := range changes {
		tk := tickets[i%len(tickets)]
		tk.Subject = fmt.Sprintf("v%d", i)
		final[tk.ID] = tk.Subject
	}
	for i, s := range subs {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			latest := map[int64]string{}
			var batch []Delivery
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				var err error
				batch, err = s.Take(batch[:0], 1+rng.IntN(8*1024))
				if err != nil {
					errs <- err
					return
				}
				for j := range batch {
					if rng.IntN(4) == 0 {
						time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
					}
					var m struct{ Ticket domain.Ticket }
					if err := json.Unmarshal(batch[j].Bytes(), &m); err != nil || m.Ticket.ID != batch[j].ID {
						errs <- fmt.Errorf("subscriber %d: corrupted delivery %q", i, batch[j].Bytes())
						return
					}
					latest[m.Ticket.ID] = m.Ticket.Subject
					batch[j].Release()
				}
				done := len(latest) == len(final)
				for id, subj := range final {
					if latest[id] != subj {
						done = false
						break
					}
				}
				if done {
					return
				}
				if len(batch) == 0 {
					select {
					case <-wakes[i]:
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
			errs <- fmt.Errorf("subscriber %d did not reach the final versions", i)
		})
	}
	for i := range changes {
		tk := tickets[i%len(tickets)]
		tk.Subject = fmt.Sprintf("v%d", i)
		feed.Put(tk)
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, s := range subs {
		s.Close()
	}
	assertHubBuffersReturned(t, h)
}
