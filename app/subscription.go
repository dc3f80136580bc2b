// A subscription's queue: the hub offers each encoded batch (offer), the
// changes the dashboard may see wait in order, a newer version of a ticket
// replacing the queued one, and the dashboard's writer takes them (Take).
// What the dashboard holds once they are written — its view and its counts
// — is in subscription_view.go.
//
// Who guards what. Subscription.mu guards every field but the ones set at
// Subscribe (hub, q, skipUntil, resumed, scope), the queue's as much as the
// view's. It is taken after Hub.mu (the hub offers under its own lock),
// never before it. onReady is called without it, though the hub's lock may
// be held: it must only hand the work over (the socket kicks its writer).

package app

import (
	"errors"
	"sync"
	"unsafe"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// ErrOverflow means a subscriber fell so far behind that even coalesced its
// waiting changes passed the queue bound; it was dropped and must resume.
var ErrOverflow = errors.New("subscriber fell too far behind")

// ErrMemoryBudget means the subscriptions of this process together keep as
// much memory as HubConfig.MemoryBudget allows: a subscription that needs
// more is failed, and may try again later.
var ErrMemoryBudget = errors.New("the server's memory budget for live views is spent")

// Subscription is one dashboard's queue of live changes and its view: what
// the dashboard holds once it has written everything taken from here. The
// hub adds changes; the dashboard's writer takes them and reports the
// snapshot rows it writes.
//
// A change reaches a subscription only if the dashboard may see it: an
// upsert when the ticket passes the filter, a removal only when the
// dashboard holds the ticket. A dashboard hears nothing of other tickets,
// so nothing of another team's tickets — not even their ids — reaches it.
//
// While the queue is short every version of a ticket waits, in order; in a
// longer one only the latest does: a newer change replaces the queued one
// (and moves to the back, so the queue stays in position order and a cursor
// taken from the last change written is exact).
type Subscription struct {
	hub       *Hub
	q         domain.Query
	skipUntil domain.ChangePos
	resumed   bool // see SubscribeOptions
	scope     domain.Scope

	mu       sync.Mutex
	queue    []Delivery    // FIFO; released entries (data == nil) are holes
	head     int           // queue[head:] is waiting
	index    map[int64]int // ticket id → its waiting entry in queue, while indexed
	indexed  bool          // the queue is long enough for index to be kept
	waiting  int           // entries waiting
	bytes    int           // bytes waiting
	overflow bool
	budget   bool // failed for the memory budget
	pruned   bool // failed: the hub skipped history it could not read (ports.ErrHistoryPruned)
	closed   bool
	onReady  func()

	view view
	// settled: the snapshot (if any) has been written, so the view is
	// everything the dashboard can hold. Until then touched records the
	// tickets changed since the subscription began: a snapshot row of one
	// of them was read before the change and is left out.
	settled bool
	touched heldSet
	// after is where a resumed dashboard stood: the last change it had.
	after domain.ChangePos
	// restored: a resumed view has been restored (Streamer.RestoreView).
	restored bool
	// accounted is the memory last added to the hub's MemoryBytes for s.
	accounted int64
	// countsHeld: the view of a resumed dashboard was restored from the
	// database as it is now, and the tickets in pending changed after the
	// dashboard's last change: it holds an earlier version of each, or
	// none. No counts go out until every one of them has been sent (see
	// CountsDue); from then on the view is what the dashboard holds.
	countsHeld bool
	pending    heldSet
	// inexact: the view may differ from what the dashboard holds — a
	// resumed one, until a claim of it is adopted or, restored from the
	// database, until its counts are sent — so no digest of it is told.
	inexact bool
	// claim is what a resuming dashboard says it holds, kept apart from
	// the view until AdoptClaim checks it (claim.go).
	claim        *view
	claimTainted bool // the claim names what the subscription could not have sent
	// maybeHeld: the tickets a resumed dashboard may hold that its view
	// does not — they changed, or left its teams, while it was away (see
	// Hub.ResumeRemovals).
	maybeHeld heldSet
	// incoming: the tickets of upserts a resumed dashboard's catch-up has
	// queued for the writer, not yet applied (Expect, Apply). The
	// dashboard will hold each: a live change taking one out of the filter
	// meanwhile goes as a removal, though the view does not hold it yet.
	incoming heldSet
	// passed: tickets of live changes dropped (not held) while a resumed
	// subscription's catch-up is still being read (from the restore until
	// CaughtUp): a catch-up upsert of one read before that change is stale.
	passed   heldSet
	caughtUp bool // see passed
	// win is the live window of a subscription that asked for one
	// (window.go); nil for a whole filter. Its view then counts the whole
	// filter, though the dashboard holds only the window.
	win *liveWindow
}

// sizeofDelivery is what a queue slot costs.
const sizeofDelivery = int64(unsafe.Sizeof(Delivery{}))

// memoryLocked estimates what s keeps: its view and its queue (the encoded
// changes are shared with other subscribers and counted at their size).
func (s *Subscription) memoryLocked() int64 {
	m := s.view.memory() + 8*int64(len(s.touched.slots)+len(s.maybeHeld.slots)+len(s.pending.slots)+len(s.incoming.slots)+len(s.passed.slots)) +
		48*int64(len(s.touched.big)+len(s.maybeHeld.big)+len(s.pending.big)+len(s.incoming.big)+len(s.passed.big))
	if s.claim != nil {
		m += s.claim.memory()
	}
	if s.win != nil {
		m += s.win.memory()
	}
	return m + sizeofDelivery*int64(cap(s.queue)) + int64(s.bytes) + 48*int64(len(s.index))
}

// accountLocked brings the hub's memory total up to date with s, and fails
// s if it grew the total past the budget.
func (s *Subscription) accountLocked() {
	m := s.memoryLocked()
	if s.closed {
		m = 0
	}
	delta := m - s.accounted
	if delta == 0 {
		return
	}
	s.accounted = m
	total := s.hub.stats.memoryBytes.Add(delta)
	if delta > 0 && total > s.hub.cfg.MemoryBudget && !s.budget && !s.closed {
		s.budget = true
		s.hub.stats.overBudget.Add(1)
		// What it holds goes at once: the budget is for the others.
		s.dropLocked()
		s.view, s.touched, s.claim = view{}, heldSet{}, nil
		s.incoming, s.passed, s.pending, s.maybeHeld = heldSet{}, heldSet{}, heldSet{}, heldSet{}
		s.accountLocked()
	}
}

// failure returns the error that ended s, if any.
func (s *Subscription) failureLocked() error {
	switch {
	case s.budget:
		return ErrMemoryBudget
	case s.overflow:
		return ErrOverflow
	case s.pruned:
		return ports.ErrHistoryPruned
	case s.win != nil && s.win.err != nil:
		return s.win.err
	}
	return nil
}

// SetNotify makes f be called (without the subscription's lock held)
// whenever changes start waiting or the subscription fails.
func (s *Subscription) SetNotify(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onReady = f
}

// Waiting reports whether Take has something to return: changes, or the
// overflow error.
func (s *Subscription) Waiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && (s.waiting > 0 || s.failureLocked() != nil || s.countsDueLocked() || s.windowCountsDueLocked())
}

// offer queues the batch's changes that concern s.
func (s *Subscription) offer(enc *encodedBatch) {
	s.mu.Lock()
	if s.closed || s.overflow || s.budget || s.pruned {
		s.mu.Unlock()
		return
	}
	if s.win != nil {
		added := s.offerWindowLocked(enc)
		s.accountLocked()
		notify := s.onReady
		failed := s.failureLocked() != nil
		s.mu.Unlock()
		if (added || failed) && notify != nil {
			notify()
		}
		return
	}
	added := false
	for i := range enc.items {
		it := &enc.items[i]
		if s.skipUntil.Covers(it.change.Pos.Seq, it.change.Pos.ID) {
			continue // the dashboard has had it
		}
		id := it.change.Ticket.ID
		switch {
		case it.upsert != nil && s.q.MatchesFilter(&it.change.Ticket):
			s.passed.Delete(id)
			s.push(enc.upsertDelivery(i))
			added = true
		case s.view.has(id) || s.incoming.Has(id):
			s.passed.Delete(id)
			// Held, or about to be (its catch-up is being written), and
			// no longer passing the filter (or deleted).
			s.push(enc.removalDelivery(i))
			added = true
		case s.resumed && !s.restored && mayHaveHeld(s.scope, it.change):
			// The resumed dashboard may hold an earlier version that its
			// view, being restored from the database, cannot show yet.
			// Once restored, the view holds what the dashboard does, or
			// the dashboard is told to drop it first (Hub.ResumeRemovals).
			s.push(enc.removalDelivery(i))
			added = true
		default:
			// Not held: an upsert still waiting was never seen, and
			// this change is none of the dashboard's business. A removal
			// still waiting (a resumed dashboard may hold the ticket) must
			// still go: it moves up to this change's position.
			if j, ok := s.queuedAt(id); ok {
				if w := &s.queue[j]; w.removal || w.earlier {
					// An earlier version will be written first: the
					// dashboard is to drop what it shows.
					s.push(enc.removalDelivery(i))
					added = true
				} else {
					s.dropAt(j)
				}
			}
			if !s.settled {
				s.touched.Put(id, 0)
			}
			if s.resumed && s.restored && !s.caughtUp {
				// Only once restored: the catch-up is read after the
				// restore, so a change dropped before it is older than
				// every catch-up page, and keeping it would only cost
				// memory through a claim's wait and the restore.
				s.passed.Put(id, 0)
			}
		}
	}
	if s.bytes > s.hub.cfg.QueueBytes {
		s.overflow = true
		s.hub.stats.overflows.Add(1)
		s.dropLocked()
	} else if len(s.queue)-s.head > 2*s.waiting+64 {
		s.compactLocked()
	}
	s.accountLocked()
	var notify func()
	if added || s.overflow || s.budget {
		notify = s.onReady
	}
	s.mu.Unlock()
	if notify != nil {
		notify()
	}
}

// push queues d. A waiting version of the same ticket stays ahead of it
// while the queue is short (HubConfig.KeepVersionsBytes), so that a
// dashboard a little behind gets every version; otherwise, and when what
// waits is a removal, d replaces it.
func (s *Subscription) push(d Delivery) {
	if j, ok := s.queuedAt(d.ID); ok {
		w := &s.queue[j]
		if w.removal || s.bytes+len(d.data) >= s.hub.cfg.KeepVersionsBytes {
			d.earlier = w.earlier
			s.dropAt(j)
			s.hub.stats.coalesced.Add(1)
		} else {
			d.earlier = true
		}
	}
	s.queue = append(s.queue, d)
	s.indexLast()
	s.waiting++
	s.bytes += len(d.data)
	s.hub.stats.deliveries.Add(1)
}

// dropAt releases the waiting entry j, leaving a hole.
func (s *Subscription) dropAt(j int) {
	old := &s.queue[j]
	s.bytes -= len(old.data)
	if s.indexed && s.index[old.ID] == j {
		delete(s.index, old.ID)
	}
	old.Release()
	s.waiting--
}

// Take appends waiting changes to dst, in order, up to about maxBytes (at
// least one), and hands them to the caller, who must write and Release each:
// the view counts them as held from now on. It returns ErrOverflow once the
// subscriber has been dropped for falling behind, and nothing after Close.
func (s *Subscription) Take(dst []Delivery, maxBytes int) ([]Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return dst, nil
	}
	if err := s.failureLocked(); err != nil {
		return dst, err
	}
	defer s.accountLocked()
	n := 0
	for s.head < len(s.queue) && (n == 0 || n+len(s.queue[s.head].data) <= maxBytes) {
		d := s.queue[s.head]
		s.queue[s.head] = Delivery{}
		s.head++
		if d.ref == nil {
			continue // replaced by a newer version further on
		}
		if s.indexed && s.index[d.ID] == s.head-1 {
			delete(s.index, d.ID)
		}
		s.waiting--
		s.bytes -= len(d.data)
		n += len(d.data)
		if s.win == nil {
			s.applyLocked(&d) // a window's view counts the filter, moved as changes are offered
		}
		dst = append(dst, d)
	}
	if s.head == len(s.queue) {
		s.emptyLocked()
	}
	return dst, nil
}

// Err returns ErrMemoryBudget, ErrOverflow or ports.ErrHistoryPruned once s
// has failed for one of them.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failureLocked()
}

// indexUntil: a queue of up to this many entries is searched rather than
// indexed. A fan-out to thousands of subscribers finds most of their queues
// empty or nearly so, and a map per subscriber touched for every change
// would cost each of them a cache miss or two.
const indexUntil = 32

// queuedAt returns the position of ticket id's latest waiting entry, if
// any.
func (s *Subscription) queuedAt(id int64) (int, bool) {
	if s.indexed {
		j, ok := s.index[id]
		return j, ok
	}
	for j := len(s.queue) - 1; j >= s.head; j-- {
		if s.queue[j].ref != nil && s.queue[j].ID == id {
			return j, true
		}
	}
	return 0, false
}

// indexLast records the entry just appended to the queue, building the
// index when the queue grows past indexUntil.
func (s *Subscription) indexLast() {
	last := len(s.queue) - 1
	if s.indexed {
		s.index[s.queue[last].ID] = last
		return
	}
	if len(s.queue)-s.head <= indexUntil {
		return
	}
	if s.index == nil {
		s.index = map[int64]int{}
	}
	for j := s.head; j <= last; j++ {
		if s.queue[j].ref != nil {
			s.index[s.queue[j].ID] = j
		}
	}
	s.indexed = true
}

// keptQueue is the largest backing array an empty queue keeps: a burst of
// changes (a bulk update) must not leave every subscriber holding the array
// it needed, since Go slices and maps never shrink by themselves.
const keptQueue = 64

// emptyLocked resets a queue with nothing waiting, letting go of what a
// burst made it grow.
func (s *Subscription) emptyLocked() {
	if cap(s.queue) > keptQueue || s.win != nil {
		// A window's operations come in bursts (its first rows, a
		// refill): an idle window keeps no queue.
		s.queue = nil
	} else {
		s.queue = s.queue[:0]
	}
	s.head = 0
	s.index, s.indexed = nil, false
}

// compactLocked squeezes out the holes left by replaced entries, into a
// smaller array when most of the queue's is holes.
func (s *Subscription) compactLocked() {
	reuse := cap(s.queue) <= keptQueue || cap(s.queue) <= 4*s.waiting
	live := s.queue[:0]
	if !reuse {
		live = make([]Delivery, 0, max(2*s.waiting, keptQueue))
	}
	for _, d := range s.queue[s.head:] {
		if d.ref != nil {
			if s.indexed {
				s.index[d.ID] = len(live)
			}
			live = append(live, d)
		}
	}
	if reuse {
		clear(s.queue[len(live):])
	}
	s.queue, s.head = live, 0
}

func (s *Subscription) dropLocked() {
	for i := s.head; i < len(s.queue); i++ {
		s.queue[i].Release()
	}
	s.queue, s.head, s.waiting, s.bytes = nil, 0, 0, 0
	s.index, s.indexed = nil, false
}

// Close unsubscribes and releases every waiting change.
func (s *Subscription) Close() {
	s.hub.unsubscribe(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.win != nil {
		s.win.stop()
		s.win.rows, s.win.pending = nil, nil
		s.win.in.Reset()
	}
	s.dropLocked()
	s.view, s.claim = view{}, nil
	s.touched.Reset()
	s.maybeHeld.Reset()
	s.pending.Reset()
	s.incoming.Reset()
	s.passed.Reset()
	s.accountLocked()
}
