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
// The counts cover the whole filter: once the first rows are sent, the
// window counts the filter in the background (count), as of the position
// its rows are exact at, while changes go on being applied; a ticket
// changed meanwhile (touched) is counted from its change, not the read.
// Counts go out once the filter is counted.
//
// A dashboard that falls behind — a bulk statement moving thousands of
// tickets through a small window — never queues more than about twice its
// window: past that, what waits is replaced by a clear and the window
// anew (collapseLocked).
//
// Who guards what. Subscription.mu guards the window, as it guards the
// queue. A read of rows (load) and the count run without it on their own
// goroutines, each one at a time per window; while rows are read, offered
// changes wait in pending — the latest of each ticket — and are applied
// once the read's rows are in (merge).

package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

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
	in   heldSet          // the ids of rows
	// complete: no ticket of the filter sorts after the last row but
	// those that will arrive as changes.
	complete bool
	// at is the position the rows are exact at: every change it covers has
	// been applied, or waits in pending.
	at      domain.ChangePos
	loading bool // a read of rows runs
	loaded  bool // the first rows are in
	// counting: the filter is being counted; counted: it has been, and the
	// view's counts cover it. touched holds, while counting, the tickets
	// changed since the count's position.
	counting, counted bool
	touched           heldSet
	// countsDue: the message with every count is still to be written.
	countsDue bool
	// gen counts the times the window started over (restartLocked): a
	// read or count of an older one is dropped.
	gen uint64
	// countsSent: the dashboard has been sent counts; countsDelta: the
	// window started over since, and its next counts are those that moved
	// (with every team it was told of), not a whole set it would merge.
	countsSent, countsDelta bool
	// failures counts the reads (or counts) that failed in a row: they are
	// tried again after a backoff, as the feed is.
	failures     int
	pending      []windowChange
	pendingAt    map[int64]int // ticket id → its entry in pending
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
		if w.counting {
			w.touched.Put(t.ID, 0)
		}
		if w.loading {
			// A ticket may be among the rows read, or have a change that
			// matched waiting here: whether the change concerns the window
			// is known only once they are in. Once the filter is counted
			// the view holds every ticket a read can return, so a change
			// that leaves out a ticket neither held nor waiting is none
			// of the window's business, as when no read runs.
			if !matches && w.counted && !s.view.has(t.ID) && !w.has(t.ID) && !w.isPending(t.ID) {
				continue
			}
			s.pendLocked(t, matches)
			continue
		}
		if !matches && !s.view.has(t.ID) && !w.has(t.ID) {
			continue // none of this dashboard's business
		}
		s.applyWindowLocked(t, matches)
	}
	if w.pendingBytes > pendingBound*s.hub.cfg.QueueBytes {
		s.restartLocked()
		return true
	}
	s.collapseLocked()
	s.maybeLoadLocked()
	return s.waiting > before || s.windowCountsDueLocked()
}

// pendingBound: the changes kept while a window's rows are read may take
// this many times the live queue's bound (--live-queue-bytes) — a read is
// short, and a bulk statement meanwhile is kept as one entry a ticket —
// before the window starts over (restartLocked).
const pendingBound = 8

// restartLocked starts the window over, as of now: what waits, what is
// kept and what is counted go, the dashboard is told to clear its window,
// and the rows and the counts are read anew. A read or count in flight is
// of the old generation and is dropped when it ends.
func (s *Subscription) restartLocked() {
	w := s.win
	w.gen++
	for i := s.head; i < len(s.queue); i++ {
		s.queue[i].Release()
	}
	s.queue, s.head, s.waiting, s.bytes = nil, 0, 0, 0
	s.pushWindowOp(Delivery{data: []byte(`{"op":"clear"}`), ref: &unpooled, removal: true})
	clear(w.rows)
	w.rows, w.complete = w.rows[:0], false
	w.in.Reset()
	w.pending, w.pendingAt, w.pendingBytes = nil, nil, 0
	w.loaded, w.counting, w.counted, w.countsDue = false, false, false, false
	w.touched.Reset()
	// The dashboard keeps the counts it was sent until new ones come: those
	// new ones name every team it was told of, 0 for a team now empty.
	old := s.view
	s.view = view{}
	if w.countsSent {
		w.countsDelta = true
		for i := range old.teams {
			s.view.markTeam(old.teams[i].name)
		}
		s.view.dirtyStatus = 1<<len(statusOrder) - 1
	}
	s.hub.stats.coalesced.Add(1)
	if !w.loading {
		s.maybeLoadLocked()
	}
}

// collapseLocked replaces what waits for a window far behind — more
// operations than twice its rows — by a clear and the window anew, so that
// a window's queue is bounded by its size, whatever the churn.
func (s *Subscription) collapseLocked() {
	w := s.win
	if s.waiting <= 2*w.size+16 {
		return
	}
	for i := s.head; i < len(s.queue); i++ {
		s.queue[i].Release()
	}
	s.queue, s.head, s.waiting, s.bytes = s.queue[:0], 0, 0, 0
	s.hub.stats.coalesced.Add(1)
	s.pushWindowOp(Delivery{data: []byte(`{"op":"clear"}`), ref: &unpooled, removal: true})
	for i := range min(w.size, len(w.rows)) {
		s.pushWindowUpsert(i, w.rows[i], 0)
	}
}

// pendLocked keeps a change offered while a read runs.
// Only the latest change of a ticket is kept: the window is a function of
// the tickets' states, whatever the path to them.
func (s *Subscription) pendLocked(t *domain.Ticket, matches bool) {
	w := s.win
	c := windowChange{matches: matches, t: domain.Ticket{ID: t.ID}}
	size := 48
	if matches {
		c.t = cloneTicket(t)
		size += ticketBytes(&c.t)
	}
	if w.pendingAt == nil {
		w.pendingAt = map[int64]int{}
	}
	if j, ok := w.pendingAt[t.ID]; ok {
		old := &w.pending[j]
		w.pendingBytes -= 48
		if old.matches {
			w.pendingBytes -= ticketBytes(&old.t)
		}
		*old = c
	} else {
		w.pendingAt[t.ID] = len(w.pending)
		w.pending = append(w.pending, c)
	}
	w.pendingBytes += size
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

// isPending reports whether a change of ticket id waits for a read.
func (w *liveWindow) isPending(id int64) bool {
	_, ok := w.pendingAt[id]
	return ok
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
	if w.loading || w.complete || s.closed || s.overflow || s.budget || s.pruned || w.err != nil {
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
	go s.load(q, w.gen)
}

// load reads the rows q asks for and merges them.
func (s *Subscription) load(q domain.Query, gen uint64) {
	w := s.win
	var rows []*domain.Ticket
	err := w.src.StreamTickets(w.ctx, q, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
		for i := range batch {
			c := cloneTicket(&batch[i])
			rows = append(rows, &c)
		}
		return nil
	}))
	s.mu.Lock()
	if gen != w.gen { // started over meanwhile: read again, as of now
		w.loading = false
		s.maybeLoadLocked()
		s.endReadLocked(nil)
		return
	}
	if err != nil && !s.closed {
		// The same read again after a backoff (the changes meanwhile keep
		// waiting): the rows on the dashboard stay as they are.
		err = s.retryLocked(err, true, func() { go s.load(q, gen) })
	} else if !s.closed {
		w.failures = 0
		s.mergeLocked(rows, q.Limit)
	}
	s.endReadLocked(err)
}

// maxWindowFailures is how many reads in a row a window tries before it
// gives up (ErrWindowRead, 1013): with the backoff, minutes of a database
// that does not answer.
const maxWindowFailures = 30

// retryLocked arranges for again — a read of rows if load, else a count —
// to run after a backoff, unless the window started over or closed
// meanwhile, or it has failed too often: then it returns the error that
// ends it.
func (s *Subscription) retryLocked(err error, load bool, again func()) error {
	w := s.win
	if errors.Is(err, errStale) || s.failureLocked() != nil {
		return nil
	}
	w.failures++
	if w.failures > maxWindowFailures {
		return err
	}
	delay := windowRetryDelay(s.hub.cfg.PollInterval, s.hub.cfg.RetryMax, w.failures)
	s.hub.log.Warn("live window read failed, retrying", "err", err, "retry_in", delay)
	gen := w.gen
	time.AfterFunc(delay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return
		}
		if gen != w.gen {
			// Started over while this read waited, so none other began
			// (one runs at a time): the window's first read starts now.
			if load {
				w.loading = false
				s.maybeLoadLocked()
			}
			return
		}
		s.hub.stats.windowReads.Add(1)
		again()
	})
	return nil
}

// count counts the filter as of q.AsOf into the view, leaving out the
// tickets changed since (touched): their changes moved the counts.
func (s *Subscription) count(q domain.Query, gen uint64) {
	w := s.win
	var scratch []byte
	err := w.src.StreamTickets(w.ctx, q, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || gen != w.gen {
			return errStale
		}
		for i := range batch {
			t := &batch[i]
			if _, changed := w.touched.Get(t.ID); changed {
				continue
			}
			scratch = appendEscaped(scratch[:0], t.Team)
			s.view.put(t.ID, statusNumber(t.Status), scratch)
		}
		s.accountLocked()
		return s.failureLocked()
	}))
	s.mu.Lock()
	if gen != w.gen || errors.Is(err, errStale) {
		s.endReadLocked(nil) // the window started over, and counts anew
		return
	}
	if err != nil && !s.closed {
		// Counted again from the start: what it put already is put
		// again, unchanged, and what changed since is touched.
		err = s.retryLocked(err, false, func() { go s.count(q, gen) })
	} else if !s.closed {
		w.failures = 0
		w.counting, w.counted, w.countsDue = false, true, true
		w.touched.Reset()
	}
	s.endReadLocked(err)
}

// errStale stops a count of a window that started over or closed.
var errStale = errors.New("stale window count")

// endReadLocked ends a read or a count — failed if err — and tells the
// writer; it unlocks s.mu.
func (s *Subscription) endReadLocked(err error) {
	w := s.win
	if err != nil && !s.closed && s.failureLocked() == nil {
		w.err = fmt.Errorf("%w: %w", ErrWindowRead, err)
		s.hub.log.Error("live window read failed too often, closing it", "err", err)
	}
	s.accountLocked()
	notify := s.onReady
	closed := s.closed
	s.mu.Unlock()
	if notify != nil && !closed {
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
	pending := w.pending
	w.pending, w.pendingAt, w.pendingBytes = nil, nil, 0
	for i := range pending {
		c := &pending[i]
		if !c.matches && !s.view.has(c.t.ID) && !w.has(c.t.ID) {
			// The counts' read and the rows' read are two: a ticket that
			// changed between them is in one and not the other.
			continue
		}
		s.applyWindowLocked(&c.t, c.matches)
	}
	if !w.loaded {
		// The first rows are out: now the counts, as of where the rows
		// are exact, while changes go on.
		w.loaded, w.counting = true, true
		q := domain.Query{Statuses: s.q.Statuses, Priorities: s.q.Priorities, Teams: s.q.Teams, Assignees: s.q.Assignees, Search: s.q.Search, AsOf: w.at}
		s.hub.stats.windowReads.Add(1)
		go s.count(q, w.gen)
	}
	s.collapseLocked()
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

// windowCountsDueLocked reports whether a window's dashboard is owed
// counts: every count once the filter is counted, then those that moved.
func (s *Subscription) windowCountsDueLocked() bool {
	w := s.win
	return w != nil && !s.closed && w.counted && (w.countsDue || s.view.changed())
}

// TakeWindow is Take for a live window: it also appends ,"counts":{…} to
// counts when they are due and the operations taken leave none waiting,
// so that counts describe the window the dashboard holds once it has
// applied them. Write a message when it returns operations or counts.
func (s *Subscription) TakeWindow(dst []Delivery, maxBytes int, counts []byte) ([]Delivery, []byte, error) {
	dst, err := s.Take(dst, maxBytes)
	if err != nil {
		return dst, counts, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.win; s.waiting == 0 && s.windowCountsDueLocked() {
		counts = append(counts, `,"counts":`...)
		// Every count, but after a start over: then every count that
		// moved since the last sent, teams that emptied as 0.
		counts = s.view.appendCounts(counts, w.countsDue && !w.countsDelta)
		w.countsDue, w.countsDelta, w.countsSent = false, false, true
	}
	return dst, counts, nil
}

// Windowed reports whether s is a live window (Query.Window).
func (s *Subscription) Windowed() bool { return s.win != nil }

// windowMemory estimates what a window keeps beyond its view.
func (w *liveWindow) memory() int64 {
	m := 8*int64(len(w.in.slots)+cap(w.rows)+len(w.touched.slots)) + int64(w.pendingBytes) + int64(cap(w.scratch))
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

// windowRetryDelay is how long a window whose read failed for the
// failures-th time waits before it reads again: ten poll intervals,
// doubled once for each failure (up to 16), at most retryMax. It never
// overflows: a long poll interval once wrapped the doubled delay to a
// negative, and the window retried at once, with no backoff.
func windowRetryDelay(poll, retryMax time.Duration, failures int) time.Duration {
	if poll > retryMax/10 {
		return retryMax
	}
	d := 10 * poll
	for range min(failures, 16) {
		if d > retryMax/2 {
			return retryMax
		}
		d *= 2
	}
	return d
}
