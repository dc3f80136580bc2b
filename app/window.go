// A live window: a subscription that asked for window=N holds the first N
// tickets of its filter in its sort's order, kept exact as tickets change,
// and the counts of the whole filter. The server keeps the window's rows
// and a few beyond its edge (the overfetch), sorted; a change that moves a
// ticket into, out of or within the window becomes a removal or an upsert
// with the row's index, and a row that leaves is replaced at once by the
// next kept one. Only when the kept rows run short does the window read
// the database: the rows after its last, as of the position its rows are
// exact at (Query.AsOf), so that what changed since arrives as changes.
//
// Who guards what. Subscription.mu guards the window, as it guards the
// queue. A read (load) runs without it on its own goroutine, one at a time
// per window; meanwhile offered changes wait in pending and are applied,
// in order, once the read's rows are in (merge).

package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// ErrWindowRead means a live window could not read its rows from the
// database: the dashboard should reconnect and try again.
var ErrWindowRead = errors.New("the live window could not read the database")

// liveWindow is a windowed subscription's rows.
type liveWindow struct {
	sort domain.Sort
	size int // rows the dashboard is shown
	keep int // rows kept: size and the overfetch
	src  ports.TicketSource
	ctx  context.Context
	stop context.CancelFunc

	rows []*domain.Ticket // sorted; rows[:size] are shown (pointers: a kept row's slot costs 8 bytes)
	in   heldSet         // the ids of rows
	// complete: no ticket of the filter sorts after the last row but
	// those that will arrive as changes.
	complete bool
	// at is the position the rows are exact at: every change it covers has
	// been applied, or waits in pending.
	at      domain.ChangePos
	loading bool // a read runs
	loaded  bool // the first read is in: the counts cover the filter
	// first: the window's first message, which carries every count, is
	// still to be written.
	first        bool
	pending      []windowChange
	pendingBytes int
	err          error
	scratch      []byte
}

// windowChange is an offered change kept while a read runs: the ticket
// (a copy), or, when it does not pass the filter, only its id.
type windowChange struct {
	matches bool
	t       domain.Ticket
}

// overfetch returns how many rows a window of size keeps beyond its edge:
// enough that most departures are refilled from memory.
func overfetch(size int) int { return max(8, size/4) }

// newLiveWindow returns the window of q (q.Window > 0) over src.
func newLiveWindow(q domain.Query, src ports.TicketSource, at domain.ChangePos) *liveWindow {
	ctx, stop := context.WithCancel(context.Background())
	return &liveWindow{sort: q.Sort, size: q.Window, keep: q.Window + overfetch(q.Window), src: src, ctx: ctx, stop: stop, at: at}
}

// offerWindowLocked applies the batch's changes to s's window, or keeps
// them while a read runs; it reports whether the dashboard has something
// new to be sent.
func (s *Subscription) offerWindowLocked(enc *encodedBatch) bool {
	w := s.win
	before := s.waiting
	for i := range enc.items {
		it := &enc.items[i]
		w.at = it.change.Pos
		t := &it.change.Ticket
		matches := !it.change.Removed && s.q.MatchesFilter(t)
		if w.loading {
			// Any ticket may be among the rows read, or have a change
			// that matched waiting here: whether the change concerns the
			// window is known only once they are in.
			s.pendLocked(t, matches)
			continue
		}
		if !matches && !s.view.has(t.ID) && !w.has(t.ID) {
			continue // none of this dashboard's business
		}
		s.applyWindowLocked(t, matches)
	}
	if w.pendingBytes > s.hub.cfg.QueueBytes {
		s.overflow = true
		s.hub.stats.overflows.Add(1)
		s.dropLocked()
	}
	s.maybeLoadLocked()
	return s.waiting > before || (w.loaded && !w.loading && s.view.changed())
}

// pendLocked keeps a change offered while a read runs.
func (s *Subscription) pendLocked(t *domain.Ticket, matches bool) {
	c := windowChange{matches: matches, t: domain.Ticket{ID: t.ID}}
	if matches {
		c.t = cloneTicket(t)
		s.win.pendingBytes += ticketBytes(&c.t)
	} else {
		s.win.pendingBytes += 16
	}
	s.win.pending = append(s.win.pending, c)
}

// applyWindowLocked applies one change of ticket t — its new state, which
// passes the filter if matches, else its removal — to the counts and the
// rows, and queues what the dashboard must be told.
func (s *Subscription) applyWindowLocked(t *domain.Ticket, matches bool) {
	w := s.win
	if matches {
		w.scratch = appendEscaped(w.scratch[:0], t.Team)
		s.view.put(t.ID, statusNumber(t.Status), w.scratch)
	} else {
		s.view.remove(t.ID)
	}
	oldIdx := -1
	if _, ok := w.in.Get(t.ID); ok {
		oldIdx = w.indexOf(t.ID)
		w.rows = slices.Delete(w.rows, oldIdx, oldIdx+1)
		w.in.Delete(t.ID)
	}
	newIdx := -1
	if matches {
		at := sort.Search(len(w.rows), func(i int) bool { return w.sort.CompareTickets(w.rows[i], t) > 0 })
		// Past the last kept row, the ticket's place is unknown unless
		// the rows are the whole filter: it is left to a later read.
		if at < len(w.rows) || w.complete {
			c := cloneTicket(t)
			w.rows = slices.Insert(w.rows, at, &c)
			w.in.Put(t.ID, 0)
			newIdx = at
			if len(w.rows) > w.keep {
				last := len(w.rows) - 1
				w.in.Delete(w.rows[last].ID)
				w.rows[last] = nil
				w.rows = w.rows[:last]
				w.complete = false
			}
		}
	}
	wasShown, isShown := oldIdx >= 0 && oldIdx < w.size, newIdx >= 0 && newIdx < w.size
	switch {
	case wasShown && isShown:
		s.pushWindowUpsert(newIdx, w.rows[newIdx], t.UpdatedAt.UnixNano())
	case wasShown:
		s.pushWindowRemoval(t.ID)
		if len(w.rows) >= w.size {
			s.pushWindowUpsert(w.size-1, w.rows[w.size-1], 0) // slides in from beyond the edge
		}
	case isShown:
		if len(w.rows) > w.size {
			s.pushWindowRemoval(w.rows[w.size].ID) // pushed out over the edge
		}
		s.pushWindowUpsert(newIdx, w.rows[newIdx], t.UpdatedAt.UnixNano())
	}
}

// has reports whether ticket id is among the kept rows.
func (w *liveWindow) has(id int64) bool {
	_, ok := w.in.Get(id)
	return ok
}

// indexOf returns the index of the kept row of ticket id, which must be
// kept.
func (w *liveWindow) indexOf(id int64) int {
	for i := range w.rows {
		if w.rows[i].ID == id {
			return i
		}
	}
	panic("app: live window row not found")
}

// maybeLoadLocked starts a read when the kept rows run short: fewer than
// the window and half the overfetch, while more may exist.
func (s *Subscription) maybeLoadLocked() {
	w := s.win
	if w.loading || w.complete || s.closed || s.overflow || s.budget || w.err != nil {
		return
	}
	if w.loaded && len(w.rows) >= w.size+(w.keep-w.size)/2 {
		return
	}
	q := domain.Query{Statuses: s.q.Statuses, Priorities: s.q.Priorities, Teams: s.q.Teams, Assignees: s.q.Assignees,
		Search: s.q.Search, Sort: w.sort, Limit: w.keep - len(w.rows), AsOf: w.at}
	if n := len(w.rows); n > 0 {
		if len(w.sort) == 0 {
			q.After = w.rows[n-1].Cursor()
		} else {
			k := domain.KeyOf(w.rows[n-1])
			q.AfterKey = &k
		}
	}
	w.loading = true
	s.hub.stats.windowReads.Add(1)
	go s.load(q, !w.loaded)
}

// load reads the rows q asks for and merges them; the first read of a
// window also counts the whole filter, as of the same position.
func (s *Subscription) load(q domain.Query, counting bool) {
	w := s.win
	var rows []*domain.Ticket
	err := w.src.StreamTickets(w.ctx, q, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
		for i := range batch {
			c := cloneTicket(&batch[i])
			rows = append(rows, &c)
		}
		return nil
	}))
	if err == nil && counting {
		// The counts cover the whole filter: the view holds every ticket
		// of it, as of q.AsOf, as a dashboard's view does (8 to 14 bytes a
		// ticket). Changes meanwhile wait in pending, so the view is the
		// read's alone.
		cq := domain.Query{Statuses: q.Statuses, Priorities: q.Priorities, Teams: q.Teams, Assignees: q.Assignees, Search: q.Search, AsOf: q.AsOf}
		var scratch []byte
		err = w.src.StreamTickets(w.ctx, cq, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.closed {
				return context.Canceled
			}
			for i := range batch {
				scratch = appendEscaped(scratch[:0], batch[i].Team)
				s.view.put(batch[i].ID, statusNumber(batch[i].Status), scratch)
			}
			s.accountLocked()
			return s.failureLocked()
		}))
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if err != nil {
		if s.failureLocked() == nil {
			w.err = fmt.Errorf("%w: %w", ErrWindowRead, err)
			s.hub.log.Warn("live window read failed", "err", err)
		}
	} else {
		s.mergeLocked(rows, q.Limit)
	}
	s.accountLocked()
	notify := s.onReady
	s.mu.Unlock()
	if notify != nil {
		notify()
	}
}

// mergeLocked adds the rows a read found after the kept ones — fewer than
// asked means there are no more — and applies the changes offered
// meanwhile.
func (s *Subscription) mergeLocked(rows []*domain.Ticket, asked int) {
	w := s.win
	before := len(w.rows)
	for i := range rows {
		if _, dup := w.in.Get(rows[i].ID); dup {
			continue // never from a source that honours AsOf; kept once regardless
		}
		w.rows = append(w.rows, rows[i])
		w.in.Put(rows[i].ID, 0)
	}
	if len(rows) < asked {
		w.complete = true
	}
	for i := before; i < min(w.size, len(w.rows)); i++ {
		s.pushWindowUpsert(i, w.rows[i], 0)
	}
	w.loading = false
	if !w.loaded {
		w.loaded, w.first = true, true
	}
	pending := w.pending
	w.pending, w.pendingBytes = nil, 0
	for i := range pending {
		c := &pending[i]
		if !c.matches && !s.view.has(c.t.ID) && !w.has(c.t.ID) {
			// The counts' read and the rows' read are two: a ticket that
			// changed between them is in one and not the other.
			continue
		}
		s.applyWindowLocked(&c.t, c.matches)
	}
	s.maybeLoadLocked()
}

// pushWindowUpsert queues the upsert of row t at index i; changed is the
// change's time for the latency measure (0 for a row sliding in).
func (s *Subscription) pushWindowUpsert(i int, t *domain.Ticket, changed int64) {
	b := make([]byte, 0, 160+ticketBytes(t))
	b = append(b, `{"op":"upsert","index":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"ticket":`...)
	b, _, err := appendTicket(b, t)
	if err != nil {
		// Not encodable (a time out of range): the dashboard drops it.
		s.hub.log.Error("window row not encodable, sent as removal", "id", t.ID, "err", err)
		s.pushWindowRemoval(t.ID)
		return
	}
	b = append(b, '}')
	s.pushWindowOp(Delivery{ID: t.ID, Changed: changed, data: b, ref: &unpooled})
}

// pushWindowRemoval queues the removal of ticket id from the window.
func (s *Subscription) pushWindowRemoval(id int64) {
	b := make([]byte, 0, 40)
	b = append(b, `{"op":"remove","id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, '}')
	s.pushWindowOp(Delivery{ID: id, data: b, ref: &unpooled, removal: true})
}

// pushWindowOp queues d behind everything waiting: a window's operations
// are applied in order, so none replaces another.
func (s *Subscription) pushWindowOp(d Delivery) {
	s.queue = append(s.queue, d)
	s.waiting++
	s.bytes += len(d.data)
	s.hub.stats.deliveries.Add(1)
}

// WindowMessageDue reports whether a windowed dashboard is owed a message
// even with no operation waiting: its first (every count, possibly no
// row), or one with the counts that changes outside its window moved.
func (s *Subscription) WindowMessageDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windowMessageDueLocked()
}

func (s *Subscription) windowMessageDueLocked() bool {
	w := s.win
	return w != nil && !s.closed && w.loaded && !w.loading && (w.first || s.view.changed())
}

// AppendWindowCounts appends ,"counts":{…} to a windowed dashboard's
// message when there is something to tell: every count in its first
// message, then those that moved. Counts go only in a message after which
// no operation waits, so that they describe the window the dashboard then
// holds.
func (s *Subscription) AppendWindowCounts(dst []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.win
	if w == nil || s.waiting > 0 || !w.loaded || w.loading || !(w.first || s.view.changed()) {
		return dst
	}
	dst = append(dst, `,"counts":`...)
	dst = s.view.appendCounts(dst, w.first)
	w.first = false
	return dst
}

// Windowed reports whether s is a live window (Query.Window).
func (s *Subscription) Windowed() bool { return s.win != nil }

// windowMemory estimates what a window keeps beyond its view.
func (w *liveWindow) memory() int64 {
	m := 8*int64(len(w.in.slots)+cap(w.rows)) + int64(w.pendingBytes) + int64(cap(w.scratch))
	for _, r := range w.rows {
		m += int64(ticketBytes(r))
	}
	return m
}

// ticketBytes estimates what a copy of t keeps.
func ticketBytes(t *domain.Ticket) int {
	n := 160 + len(t.Team) + len(t.Subject) + len(t.Requester) + len(t.Assignee) + 16*len(t.Tags)
	for _, tag := range t.Tags {
		n += len(tag)
	}
	return n
}

// cloneTicket copies t, strings and tags included: a source's batch, and
// a feed's, are valid only during the call, and their strings may be too.
func cloneTicket(t *domain.Ticket) domain.Ticket {
	c := *t
	c.Team, c.Subject, c.Requester, c.Assignee = strings.Clone(t.Team), strings.Clone(t.Subject), strings.Clone(t.Requester), strings.Clone(t.Assignee)
	c.Status, c.Priority = domain.Status(strings.Clone(string(t.Status))), domain.Priority(strings.Clone(string(t.Priority)))
	if t.Tags != nil {
		c.Tags = make([]string, len(t.Tags))
		for i, tag := range t.Tags {
			c.Tags[i] = strings.Clone(tag)
		}
	}
	return c
}

// unpooled is the reference of deliveries whose bytes are the garbage
// collector's, not a pooled buffer's: a window's operations, encoded for
// it alone.
var unpooled sharedBuffer
