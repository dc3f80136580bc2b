package app

import (
	"context"
	"fmt"
	"log/slog"
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
	// MemoryBudget bounds the memory all subscriptions keep together: what
	// their dashboards hold (about 11-14 bytes a ticket) and the changes
	// waiting for them. A subscription that would pass it is failed with
	// ErrMemoryBudget, and no new one starts while it is spent.
	MemoryBudget int64
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
		MemoryBudget:  1 << 30,
	}
}

// Validate reports a negative setting, naming it: zero means the
// default of DefaultHubConfig, a negative value is an error.
func (c HubConfig) Validate() error {
	for _, f := range []struct {
		v     time.Duration
		param string
	}{{c.PollInterval, "poll-interval"}, {c.Retention, "change-retention"}, {c.PruneInterval, "prune-interval"},
		{c.StallWarning, "stall-warning"}, {c.RetryMax, "retry-max"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or a positive duration, got %s", f.v)
		}
	}
	for _, f := range []struct {
		v     int64
		param string
	}{{int64(c.BatchSize), "live-batch-size"}, {int64(c.QueueBytes), "live-queue-bytes"}, {c.MemoryBudget, "live-memory-budget"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or more")
		}
	}
	return nil
}

// withDefaults validates c and fills its zero fields.
func (c HubConfig) withDefaults() (HubConfig, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	d := DefaultHubConfig()
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.PollInterval, d.PollInterval}, {&c.Retention, d.Retention},
		{&c.PruneInterval, d.PruneInterval}, {&c.StallWarning, d.StallWarning}, {&c.RetryMax, d.RetryMax}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = d.MemoryBudget
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
	// MemoryBytes is what the subscriptions keep now (see
	// HubConfig.MemoryBudget); OverBudget counts those failed for it.
	MemoryBytes atomic.Int64
	OverBudget  atomic.Uint64
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

	mu  sync.Mutex
	pos domain.ChangePos // every change at or before pos has been dispatched
	// dispatched is pos, for readers that must not take mu (a
	// subscription's writer holding the subscription's lock).
	dispatched atomic.Pointer[domain.ChangePos]
	id         uint64 // the feed's Identity, read with the first position
	ready      bool
	subs       []*Subscription
	wake       chan struct{} // closed and replaced when ready or pos advances
	stats      HubStats
	// lastRead is when the feed last answered a read (unix nanoseconds;
	// 0 before the first): readiness reports a feed that stopped answering.
	lastRead atomic.Int64
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

// LastRead returns when the change feed last answered a read; the zero
// time before it first has. A feed that has not answered for long means
// dashboards hear of no change: the server is not ready.
func (h *Hub) LastRead() time.Time {
	if n := h.lastRead.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

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
			h.lastRead.Store(time.Now().UnixNano())
			h.mu.Lock()
			h.pos, h.id, h.ready = pos, id, true
			h.dispatched.Store(&pos)
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
		h.mu.Lock()
		pos := h.pos
		h.mu.Unlock()
		h.stats.Reads.Add(1)
		start, changes := time.Now(), h.stats.Changes.Load()
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
		h.lastRead.Store(time.Now().UnixNano())
		delay = h.cfg.PollInterval
		h.mu.Lock()
		advanced := reached.Compare(h.pos) > 0
		if advanced {
			h.pos = reached
			h.dispatched.Store(&reached)
			h.broadcastLocked()
		}
		h.mu.Unlock()
		// The interval runs from the read's start: a read that handed many
		// changes over must not add a whole interval of its own, or changes
		// made meanwhile become visible together and are merged. A read that
		// found changes is followed soon by the next, which finds the rest
		// of a burst; only an empty read waits the whole interval.
		next := h.cfg.PollInterval
		if h.stats.Changes.Load() != changes {
			next /= 10
		}
		if !sleep(ctx, next-time.Since(start)) {
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
			n, err := h.feed.PruneRemovals(ctx, time.Now().Add(-h.cfg.Retention), h.Position())
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
	if d <= 0 {
		return ctx.Err() == nil
	}
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
	if len(batch) == 0 {
		return nil // nothing to offer, and no position to move to
	}
	h.stats.Changes.Add(uint64(len(batch)))
	enc := h.encodeChanges(batch)
	defer enc.release()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		s.offer(enc)
	}
	h.pos = batch[len(batch)-1].Pos
	pos := h.pos
	h.dispatched.Store(&pos)
	return nil
}

// SubscribeOptions say where a subscription starts.
type SubscribeOptions struct {
	// SkipUntil: changes at or before it are not queued, for a client that
	// has already seen them.
	SkipUntil domain.ChangePos
	// Resumed says the dashboard already holds tickets this process never
	// sent it (it resumes a subscription; see Streamer.RestoreView). Until
	// the subscription settles, a change that does not pass the filter is
	// sent as a removal when the dashboard may hold an earlier version:
	// Scope allows the ticket's current team (unless it was deleted) or one
	// of the teams it left (ports.Change.LeftTeams).
	Resumed bool
	// Scope is what the dashboard's credentials may see.
	Scope domain.Scope
	// After is where a resumed dashboard stood (its cursor's last change):
	// a ticket that left one of its teams since may be one it holds.
	After domain.ChangePos
}

// Subscribe registers a subscriber for q (already restricted to the
// caller's scope) and returns it with the position it starts after: every
// change after that position reaches it, in order. It waits until the hub
// has started, or ctx ends.
func (h *Hub) Subscribe(ctx context.Context, q domain.Query, opts SubscribeOptions) (*Subscription, domain.ChangePos, error) {
	for {
		if h.stats.MemoryBytes.Load() >= h.cfg.MemoryBudget {
			h.stats.OverBudget.Add(1)
			return nil, domain.ChangePos{}, fmt.Errorf("subscribe: %w", ErrMemoryBudget)
		}
		h.mu.Lock()
		if h.ready {
			s := &Subscription{hub: h, q: q, skipUntil: opts.SkipUntil, resumed: opts.Resumed, countsHeld: opts.Resumed, scope: opts.Scope, after: opts.After, notify: make(chan struct{}, 1)}
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

// ResumeRemovals returns, for a resumed subscription whose view has been
// restored (Streamer.RestoreView), the removals of the tickets its
// dashboard may still show though they no longer pass its filter: those
// that changed while it was away within its scope, and those that left its
// teams, that the view does not hold. They are positioned at `at`,
// encoded; the caller writes them before the catch-up, at the position the
// dashboard resumes from, and releases each.
//
// The catch-up alone cannot tell: a ticket that left and changed again
// after the subscription began is not in it, and its live change counts
// departures only from the live read's start. Nor may they wait for the
// catch-up's end: its messages move the dashboard's cursor past the
// changes, and a dashboard that hangs up before the removals would resume
// beyond them and never hear of them.
func (h *Hub) ResumeRemovals(s *Subscription, at domain.ChangePos) []Delivery {
	ids := s.unheldRemovals()
	if len(ids) == 0 {
		return nil
	}
	batch := make([]ports.Change, len(ids))
	for i, id := range ids {
		batch[i] = ports.Change{Pos: at, Removed: true, Ticket: domain.Ticket{ID: id}}
	}
	enc := h.encodeChanges(batch)
	defer enc.release()
	out := make([]Delivery, len(ids))
	for i := range ids {
		out[i] = enc.removalDelivery(i)
	}
	return out
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

// CatchUp reads the changes in (after, until] that concern a dashboard of
// q's filter within scope and calls fn with them, encoded, in order; fn owns
// each Delivery and must Release it, and the subscription must Apply them
// before they are written. A resuming client gets these first, then its
// subscription's.
//
// A ticket that passes the filter comes as an upsert; one that no longer
// does, as a removal when the dashboard may hold an earlier version: holds
// says so, for a subscription whose view has been restored
// (Subscription.Holds: what it holds, or may and was told to drop, is
// known); with holds nil, when the ticket is within the scope now, or left
// one of its teams — moved away or deleted — after `after`
// (ports.Change.LeftTeams). Nothing is ever sent of a ticket that was
// outside the scope all along, not even its id.
func (h *Hub) CatchUp(ctx context.Context, q domain.Query, scope domain.Scope, after, until domain.ChangePos, holds func(id int64) bool, fn func([]Delivery) error) error {
	if after.Compare(until) >= 0 {
		return nil
	}
	var out []Delivery
	_, err := h.feed.ReadChanges(ctx, after, until, h.cfg.BatchSize, ports.ChangeHandlerFunc(func(batch []ports.Change) error {
		enc := h.encodeChanges(batch)
		defer enc.release()
		out = out[:0]
		for i := range enc.items {
			it := &enc.items[i]
			switch t := &it.change.Ticket; {
			case it.upsert != nil && q.MatchesFilter(t):
				out = append(out, enc.upsertDelivery(i))
			case holds != nil && holds(t.ID), holds == nil && mayHaveHeld(scope, it.change):
				out = append(out, enc.removalDelivery(i))
			}
		}
		if len(out) == 0 {
			return nil
		}
		return fn(out)
	}))
	if err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	return nil
}
