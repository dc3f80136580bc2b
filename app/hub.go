package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// HubConfig sets the fan-out hub's pace and bounds. Zero fields take the
// defaults of DefaultHubConfig.
type HubConfig struct {
	// PollInterval is how often the change feed is read when it was empty.
	PollInterval time.Duration
	// BatchSize is how many changes are read from the feed at a time.
	BatchSize int
	// QueueBytes bounds the changes waiting for one subscriber. A subscriber
	// that falls behind has its waiting changes coalesced (only the latest
	// version of each ticket waits); one still over the bound is dropped.
	QueueBytes int
	// Retention is how long removals stay resumable; older ones are pruned.
	Retention time.Duration
	// PruneInterval is how often removals past Retention are pruned.
	PruneInterval time.Duration
	// StallWarning: an open writing transaction older than this holds back
	// every change after it; it is logged as a warning.
	StallWarning time.Duration
	// RetryMax bounds the wait between attempts while the feed fails.
	RetryMax time.Duration
	// PoisonReleased overwrites every buffer given back to the pool, so that
	// a writer that kept one sends garbage. For tests.
	PoisonReleased bool
}

// DefaultHubConfig polls every 10ms, queues up to 1 MiB per subscriber and
// keeps removals for 24 hours.
func DefaultHubConfig() HubConfig {
	return HubConfig{
		PollInterval:  10 * time.Millisecond,
		BatchSize:     DefaultBatchSize,
		QueueBytes:    1 << 20,
		Retention:     24 * time.Hour,
		PruneInterval: time.Minute,
		StallWarning:  10 * time.Second,
		RetryMax:      2 * time.Second,
	}
}

func (c HubConfig) withDefaults() (HubConfig, error) {
	d := DefaultHubConfig()
	for _, f := range []struct {
		v     *time.Duration
		def   time.Duration
		param string
	}{{&c.PollInterval, d.PollInterval, "poll-interval"}, {&c.Retention, d.Retention, "retention"},
		{&c.PruneInterval, d.PruneInterval, "prune-interval"}, {&c.StallWarning, d.StallWarning, "stall-warning"}, {&c.RetryMax, d.RetryMax, "retry-max"}} {
		if *f.v < 0 {
			return c, domain.Invalidf(f.param, "must not be negative, got %s", *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.BatchSize < 0 || c.QueueBytes < 0 {
		return c, domain.Invalidf("queue-bytes", "batch size and queue bound must not be negative")
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = d.QueueBytes
	}
	return c, nil
}

// HubStats are the hub's live counters.
type HubStats struct {
	Reads      atomic.Uint64 // feed reads
	ReadErrors atomic.Uint64 // feed reads that failed
	Changes    atomic.Uint64 // changes read from the feed
	Deliveries atomic.Uint64 // changes queued for a subscriber
	Coalesced  atomic.Uint64 // queued changes replaced by a newer version before being sent
	Overflows  atomic.Uint64 // subscribers dropped because even coalesced they fell too far behind
	// StalledNanos is the age of the oldest open writing transaction at the
	// last check, if older than the stall warning: delivery waits for it.
	StalledNanos atomic.Int64
}

// Hub reads the change feed once for every subscriber of this process and
// fans each change out to those whose filter it concerns: each change is
// encoded once into a pooled buffer, and every subscriber queues a reference
// to the same bytes. The buffer goes back to the pool when the last
// subscriber has written (or dropped) its reference.
type Hub struct {
	feed ports.ChangeFeed
	cfg  HubConfig
	pool *bufferPool
	log  *slog.Logger

	mu    sync.Mutex
	pos   domain.ChangePos // every change at or before pos has been dispatched
	id    uint64           // the feed's Identity, read with the first position
	ready bool
	subs  []*Subscription
	wake  chan struct{} // closed and replaced when ready or pos advances
	stats HubStats
}

// NewHub returns a Hub reading feed. Run starts it.
func NewHub(feed ports.ChangeFeed, cfg HubConfig, log *slog.Logger) (*Hub, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("hub config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{feed: feed, cfg: cfg, pool: newBufferPool(hubBufferCap, 4*hubBufferCap, cfg.PoisonReleased, false), log: log, wake: make(chan struct{})}, nil
}

// hubBufferCap is the size of a shared change buffer: changes are encoded
// into one until it passes it, then into the next.
const hubBufferCap = 32 * 1024

// Stats returns the hub's live counters.
func (h *Hub) Stats() *HubStats { return &h.stats }

// PoolStats returns the counters of the hub's buffer pool; InUse is 0 when
// every subscriber has written or dropped what it was given.
func (h *Hub) PoolStats() *PoolStats { return &h.pool.stats }

// Position returns the position up to which changes have been dispatched.
func (h *Hub) Position() domain.ChangePos {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pos
}

// Run reads the feed until ctx ends, starting at its current horizon. While
// the feed fails (the database restarts) it retries with backoff, and
// subscribers simply wait: nothing is lost, since reading resumes from the
// last position dispatched.
func (h *Hub) Run(ctx context.Context) error {
	delay := h.cfg.PollInterval
	for !h.isReady() {
		pos, err := h.feed.Horizon(ctx)
		var id uint64
		if err == nil {
			id, err = h.feed.Identity(ctx)
		}
		if err == nil {
			h.mu.Lock()
			h.pos, h.id, h.ready = pos, id, true
			h.broadcastLocked()
			h.mu.Unlock()
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		h.log.Warn("change feed unavailable, retrying", "err", err, "retry_in", delay)
		if !sleep(ctx, delay) {
			return nil
		}
		delay = min(2*delay, h.cfg.RetryMax)
	}
	h.log.Info("change feed started", "position", h.Position())
	var workers sync.WaitGroup
	workers.Go(func() { h.maintain(ctx) })
	defer workers.Wait()
	delay = h.cfg.PollInterval
	for {
		pos := h.Position()
		h.stats.Reads.Add(1)
		reached, err := h.feed.ReadChanges(ctx, pos, domain.ChangePos{}, h.cfg.BatchSize, h)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			h.stats.ReadErrors.Add(1)
			h.log.Warn("change feed read failed, retrying", "err", err, "retry_in", delay)
			if !sleep(ctx, delay) {
				return nil
			}
			delay = min(2*delay, h.cfg.RetryMax)
			continue
		}
		delay = h.cfg.PollInterval
		h.mu.Lock()
		advanced := reached.Compare(h.pos) > 0
		if advanced {
			h.pos = reached
			h.broadcastLocked()
		}
		h.mu.Unlock()
		if !sleep(ctx, h.cfg.PollInterval) {
			return nil
		}
	}
}

// maintain prunes old removals and watches for writers that stall the feed.
func (h *Hub) maintain(ctx context.Context) {
	prune := time.NewTicker(h.cfg.PruneInterval)
	defer prune.Stop()
	stall := time.NewTicker(min(h.cfg.StallWarning/2, 5*time.Second))
	defer stall.Stop()
	warned := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			n, err := h.feed.PruneRemovals(ctx, time.Now().Add(-h.cfg.Retention))
			if err != nil && ctx.Err() == nil {
				h.log.Warn("pruning old removals failed", "err", err)
			} else if n > 0 {
				h.log.Info("pruned old removals", "count", n, "retention", h.cfg.Retention)
			}
		case <-stall.C:
			w, err := h.feed.OldestWriter(ctx)
			if err != nil {
				continue
			}
			if w.Age < h.cfg.StallWarning {
				h.stats.StalledNanos.Store(0)
				warned = 0
				continue
			}
			h.stats.StalledNanos.Store(int64(w.Age))
			if warned != w.PID {
				warned = w.PID
				h.log.Warn("an open writing transaction holds back live delivery: every change after it waits until it ends",
					"age", w.Age.Round(time.Second).String(), "pid", w.PID, "application", w.Application, "state", w.State)
			}
		}
	}
}

func (h *Hub) isReady() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready
}

func (h *Hub) broadcastLocked() {
	close(h.wake)
	h.wake = make(chan struct{})
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// HandleChanges implements ports.ChangeHandler: it encodes the batch once
// and queues it for every subscriber it concerns.
func (h *Hub) HandleChanges(batch []ports.Change) error {
	h.stats.Changes.Add(uint64(len(batch)))
	enc := h.encodeChanges(batch)
	defer enc.release()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		s.offer(enc)
	}
	h.pos = batch[len(batch)-1].Pos
	return nil
}

// Subscribe registers a subscriber for q (already restricted to the
// caller's scope) and returns it with the position it starts after: every
// change after that position reaches it, in order. It waits until the hub
// has started, or ctx ends. Changes at or before skipUntil are not queued,
// for a client that has already seen them.
func (h *Hub) Subscribe(ctx context.Context, q domain.Query, skipUntil domain.ChangePos) (*Subscription, domain.ChangePos, error) {
	for {
		h.mu.Lock()
		if h.ready {
			s := &Subscription{hub: h, q: q, skipUntil: skipUntil, notify: make(chan struct{}, 1)}
			h.subs = append(h.subs, s)
			pos := h.pos
			h.mu.Unlock()
			return s, pos, nil
		}
		wake := h.wake
		h.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, domain.ChangePos{}, fmt.Errorf("subscribe: change feed not started: %w", ctx.Err())
		}
	}
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.subs {
		if x == s {
			last := len(h.subs) - 1
			h.subs[i], h.subs[last] = h.subs[last], nil
			h.subs = h.subs[:last]
			return
		}
	}
}

// CatchUp reads the changes in (after, until] of q's filter and calls fn
// with them, encoded, in order; fn owns each Delivery and must Release it.
// A resuming client gets these first, then its subscription's.
func (h *Hub) CatchUp(ctx context.Context, q domain.Query, after, until domain.ChangePos, fn func([]Delivery) error) error {
	if after.Compare(until) >= 0 {
		return nil
	}
	var out []Delivery
	_, err := h.feed.ReadChanges(ctx, after, until, h.cfg.BatchSize, ports.ChangeHandlerFunc(func(batch []ports.Change) error {
		enc := h.encodeChanges(batch)
		defer enc.release()
		out = out[:0]
		for i := range enc.items {
			if d, ok := enc.delivery(i, &q); ok {
				out = append(out, d)
			}
		}
		return fn(out)
	}))
	if err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	return nil
}

// Delivery is one change queued for one subscriber: shared, encoded bytes
// and a reference that keeps them alive. Write Bytes, then Release.
type Delivery struct {
	// Pos is the change's position.
	Pos domain.ChangePos
	// ID is the ticket's id.
	ID int64
	// Changed is the ticket's updated_at in Unix nanoseconds, for measuring
	// how long a change took to reach a dashboard; 0 for a removal.
	Changed int64
	data    []byte
	ref     *sharedBuffer
}

// Bytes returns the change encoded as a JSON object: {"op":"upsert",
// "ticket":{…}} or {"op":"remove","id":…}. Valid until Release.
func (d Delivery) Bytes() []byte { return d.data }

// Release drops the delivery's reference to its buffer.
func (d *Delivery) Release() {
	if d.ref != nil {
		d.ref.release()
		d.ref, d.data = nil, nil
	}
}

// sharedBuffer is a pooled buffer holding encoded changes, referenced by
// every subscriber that queued one of them. The last release returns it.
type sharedBuffer struct {
	buf  *buffer
	gen  uint64
	refs atomic.Int32
}

func (sb *sharedBuffer) retain() { sb.refs.Add(1) }

func (sb *sharedBuffer) release() {
	switch n := sb.refs.Add(-1); {
	case n == 0:
		sb.buf.recycle(sb.gen)
	case n < 0:
		panic("app: shared change buffer released more often than retained")
	}
}

// encodedBatch is one feed batch, encoded: for each change its upsert (or
// removal) bytes and its removal bytes, for subscribers whose filter the
// ticket no longer passes.
type encodedBatch struct {
	bufs  []*sharedBuffer
	items []encodedChange
}

type encodedChange struct {
	change          *ports.Change
	buf             *sharedBuffer
	upsert, removal []byte
	changed         int64 // the ticket's updated_at, Unix ns
}

// encodeChanges encodes batch into shared buffers, each holding one
// reference for the batch itself (dropped by release).
func (h *Hub) encodeChanges(batch []ports.Change) *encodedBatch {
	enc := &encodedBatch{items: make([]encodedChange, len(batch))}
	var cur *sharedBuffer
	for i := range batch {
		c := &batch[i]
		if cur == nil || len(cur.buf.b) > hubBufferCap {
			buf, gen := h.pool.get()
			cur = &sharedBuffer{buf: buf, gen: gen}
			cur.refs.Store(1)
			enc.bufs = append(enc.bufs, cur)
		}
		b := cur.buf.b
		start := len(b)
		var upsertEnd int
		if !c.Removed {
			b = append(b, `{"op":"upsert","ticket":`...)
			var err error
			if b, err = AppendTicket(b, &c.Ticket); err != nil {
				// Not a JSON-encodable ticket (invalid UTF-8 is replaced,
				// so this is a time out of range): tell clients to drop it
				// rather than stall the feed.
				h.log.Error("change not encodable, sent as removal", "id", c.Ticket.ID, "err", err)
				b = b[:start]
			} else {
				b = append(b, '}')
			}
			upsertEnd = len(b)
		}
		rstart := len(b)
		b = append(b, `{"op":"remove","id":`...)
		b = strconv.AppendInt(b, c.Ticket.ID, 10)
		b = append(b, '}')
		cur.buf.b = b
		it := &enc.items[i]
		it.change, it.buf = c, cur
		it.removal = b[rstart:len(b):len(b)]
		if upsertEnd > start {
			it.upsert = b[start:upsertEnd:upsertEnd]
			it.changed = c.Ticket.UpdatedAt.UnixNano()
		}
	}
	return enc
}

// delivery returns item i as q's subscriber should get it: the ticket if it
// passes q's filter, else its removal (the subscriber may hold an earlier
// version that passed). It takes a reference.
func (e *encodedBatch) delivery(i int, q *domain.Query) (Delivery, bool) {
	it := &e.items[i]
	data, changed := it.removal, int64(0)
	if it.upsert != nil && q.MatchesFilter(&it.change.Ticket) {
		data, changed = it.upsert, it.changed
	}
	it.buf.retain()
	return Delivery{Pos: it.change.Pos, ID: it.change.Ticket.ID, Changed: changed, data: data, ref: it.buf}, true
}

func (e *encodedBatch) release() {
	for _, sb := range e.bufs {
		sb.release()
	}
}

// ErrOverflow means a subscriber fell so far behind that even coalesced its
// waiting changes passed the queue bound; it was dropped and must resume.
var ErrOverflow = errors.New("subscriber fell too far behind")

// Subscription is one subscriber's queue of changes. The hub adds to it;
// the subscriber's writer takes from it. Only the latest version of a ticket
// waits: a newer change replaces the queued one (and moves to the back, so
// the queue stays in position order and a cursor taken from the last change
// written is exact).
type Subscription struct {
	hub       *Hub
	q         domain.Query
	skipUntil domain.ChangePos

	mu       sync.Mutex
	queue    []Delivery    // FIFO; released entries (data == nil) are holes
	head     int           // queue[head:] is waiting
	index    map[int64]int // ticket id → its waiting entry in queue, while indexed
	indexed  bool          // the queue is long enough for index to be kept
	waiting  int           // entries waiting
	bytes    int           // bytes waiting
	overflow bool
	closed   bool
	notify   chan struct{}
	onReady  func()
}

// SetNotify makes f be called (without the subscription's lock held)
// whenever changes start waiting or the subscription fails, besides Ready.
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
	return s.waiting > 0 || s.overflow
}

// Ready is signalled when changes are waiting (or the subscription failed).
func (s *Subscription) Ready() <-chan struct{} { return s.notify }

// offer queues the batch's changes that concern s.
func (s *Subscription) offer(enc *encodedBatch) {
	s.mu.Lock()
	if s.closed || s.overflow {
		s.mu.Unlock()
		return
	}
	added := false
	for i := range enc.items {
		it := &enc.items[i]
		if it.change.Pos.Compare(s.skipUntil) <= 0 {
			continue
		}
		// A ticket outside the filter comes as its removal: the subscriber
		// may hold an earlier version that passed the filter.
		d, _ := enc.delivery(i, &s.q)
		if j, ok := s.queuedAt(d.ID); ok {
			old := &s.queue[j]
			s.bytes -= len(old.data)
			old.Release()
			s.waiting--
			s.hub.stats.Coalesced.Add(1)
		}
		s.queue = append(s.queue, d)
		s.indexLast()
		s.waiting++
		s.bytes += len(d.data)
		s.hub.stats.Deliveries.Add(1)
		added = true
	}
	if s.bytes > s.hub.cfg.QueueBytes {
		s.overflow = true
		s.hub.stats.Overflows.Add(1)
		s.dropLocked()
	} else if len(s.queue)-s.head > 2*s.waiting+64 {
		s.compactLocked()
	}
	var notify func()
	if added || s.overflow {
		select {
		case s.notify <- struct{}{}:
		default:
		}
		notify = s.onReady
	}
	s.mu.Unlock()
	if notify != nil {
		notify()
	}
}

// Take appends waiting changes to dst, in order, up to about maxBytes (at
// least one), and hands them to the caller, who must Release each. It
// returns ErrOverflow once the subscriber has been dropped for falling
// behind, and nothing after Close.
func (s *Subscription) Take(dst []Delivery, maxBytes int) ([]Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow {
		return dst, ErrOverflow
	}
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
		dst = append(dst, d)
	}
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
		s.unindex()
	}
	return dst, nil
}

// indexUntil: a queue of up to this many entries is searched rather than
// indexed. A fan-out to thousands of subscribers finds most of their queues
// empty or nearly so, and a map per subscriber touched for every change
// would cost each of them a cache miss or two.
const indexUntil = 32

// queuedAt returns the position of ticket id's waiting entry, if any.
func (s *Subscription) queuedAt(id int64) (int, bool) {
	if s.indexed {
		j, ok := s.index[id]
		return j, ok
	}
	for j := s.head; j < len(s.queue); j++ {
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

// unindex empties the index, keeping its map for the next long queue.
func (s *Subscription) unindex() {
	if s.indexed {
		clear(s.index)
		s.indexed = false
	}
}

// compactLocked squeezes out the holes left by replaced entries.
func (s *Subscription) compactLocked() {
	live := s.queue[:0]
	for _, d := range s.queue[s.head:] {
		if d.ref != nil {
			if s.indexed {
				s.index[d.ID] = len(live)
			}
			live = append(live, d)
		}
	}
	clear(s.queue[len(live):])
	s.queue, s.head = live, 0
}

func (s *Subscription) dropLocked() {
	for i := s.head; i < len(s.queue); i++ {
		s.queue[i].Release()
	}
	s.queue, s.head, s.waiting, s.bytes = nil, 0, 0, 0
	s.unindex()
}

// Close unsubscribes and releases every waiting change.
func (s *Subscription) Close() {
	s.hub.unsubscribe(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.dropLocked()
}
