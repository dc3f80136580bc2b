// The hub's feed loop: Run reads the change feed from the last position
// dispatched and HandleChanges encodes each batch once and offers it to
// every subscriber (the queues are in subscription.go, the shared encoded
// deliveries in delivery.go); prune removes old removals beside it, and
// watch.go watches for a feed that stopped answering and for writing
// transactions left open. Its configuration is in hubconfig.go, the
// registry of subscribers in subscribers.go, the catch-up of a resuming
// dashboard in catchup.go.
//
// Who guards what. Hub.mu guards pos, id, ready, subs and wake; it is taken
// before a Subscription's own lock (HandleChanges offers under it), never
// after. dispatched mirrors pos for readers that hold a subscription's lock
// and so must not take mu. reading is held across a whole feed read (its
// HandleChanges calls take mu inside it); Subscribe takes it before mu.
// The counters and lastRead are atomics.

package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// HubStats is a snapshot of the hub's counters.
type HubStats struct {
	Reads      uint64 // feed reads
	ReadErrors uint64 // feed reads that failed
	Changes    uint64 // changes read from the feed
	Deliveries uint64 // changes queued for a subscriber
	Coalesced  uint64 // queued changes replaced by a newer version before being sent
	Overflows  uint64 // subscribers dropped because even coalesced they fell too far behind
	// Stalled is how long the feed has not been read, when longer than the
	// stall warning: the database does not answer, and no change reaches
	// any dashboard. Another transaction left open stalls nothing: each
	// change is read when its own transaction commits.
	Stalled time.Duration
	// MemoryBytes is what the subscriptions keep now (see
	// HubConfig.MemoryBudget); OverBudget counts those failed for it.
	MemoryBytes int64
	OverBudget  uint64
	// WindowReads counts the database reads of live windows: their first,
	// and each refill of a window whose kept rows ran short.
	WindowReads uint64
	// HistoryPruned counts the times the retention had pruned history the
	// hub had not read yet (ports.ErrHistoryPruned): each time every
	// subscriber of the process was closed to start afresh.
	HistoryPruned uint64
	// UnrecordedPending is how many of the transactions open on the
	// database server at the last read a live cursor handed out now leaves
	// out (domain.ChangePos.UnrecordedPending): more are open than a cursor
	// has room for. Delivery waits for none of them; a dashboard that
	// resumes from such a cursor is sent again what it had since the
	// lowest left out began.
	UnrecordedPending int
}

// hubCounters are the hub's live counters; HubStats is their snapshot.
type hubCounters struct {
	reads, readErrors, changes, deliveries, coalesced, overflows atomic.Uint64
	stalledNanos, memoryBytes                                    atomic.Int64
	overBudget, windowReads, historyPruned                       atomic.Uint64
}

// snapshot reads the counters one at a time.
func (c *hubCounters) snapshot() HubStats {
	return HubStats{
		Reads: c.reads.Load(), ReadErrors: c.readErrors.Load(), Changes: c.changes.Load(),
		Deliveries: c.deliveries.Load(), Coalesced: c.coalesced.Load(), Overflows: c.overflows.Load(),
		Stalled: time.Duration(c.stalledNanos.Load()), MemoryBytes: c.memoryBytes.Load(), OverBudget: c.overBudget.Load(),
		WindowReads: c.windowReads.Load(), HistoryPruned: c.historyPruned.Load(),
	}
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

	// reading is held (a token in the channel) while a feed read runs:
	// Subscribe waits for the read to end, so that a subscription starts at
	// a snapshot, never halfway through a transaction's changes.
	reading chan struct{}

	mu  sync.Mutex
	pos domain.ChangePos // every change pos covers has been dispatched
	// dispatched is pos, for readers that must not take mu (a
	// subscription's writer holding the subscription's lock).
	dispatched atomic.Pointer[domain.ChangePos]
	id         uint64 // the feed's Identity, read with the first position
	ready      bool
	subs       []*Subscription
	wake       chan struct{} // closed and replaced when ready or pos advances
	stats      hubCounters
	// lastRead is when the feed last answered a read (unix nanoseconds;
	// 0 before the first): readiness reports a feed that stopped answering.
	lastRead atomic.Int64
	// readWatch, while a feed read runs, gives it up when the database
	// answers nothing for ReadTimeout (readChanges); only the reading
	// goroutine, and HandleChanges within its read, touch it.
	readWatch *time.Timer
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
	return &Hub{feed: feed, cfg: cfg, pool: newBufferPool(hubBufferCap, 4*hubBufferCap, cfg.poisonReleased, false), log: log,
		wake: make(chan struct{}), reading: make(chan struct{}, 1)}, nil
}

// hubBufferCap is the size of a shared change buffer: changes are encoded
// into one until it passes it, then into the next.
const hubBufferCap = 32 * 1024

// Stats returns a snapshot of the hub's counters.
func (h *Hub) Stats() HubStats {
	st := h.stats.snapshot()
	st.UnrecordedPending = h.Position().UnrecordedPending()
	return st
}

// PoolStats returns a snapshot of the counters of the hub's buffer pool;
// InUse is 0 when every subscriber has written or dropped what it was given.
func (h *Hub) PoolStats() PoolStats { return h.pool.stats.snapshot() }

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

// Run reads the feed until ctx ends, starting at its horizon (every change
// committed by then). While the feed fails (the database restarts) it
// retries with backoff, and subscribers simply wait: nothing is lost, since
// reading resumes from the last position dispatched.
func (h *Hub) Run(ctx context.Context) error {
	delay := h.cfg.PollInterval
	for !h.isReady() {
		startCtx, cancel := context.WithTimeout(ctx, h.cfg.ReadTimeout) // as a read: a database that hangs is retried
		pos, err := h.feed.Horizon(startCtx)
		var id uint64
		if err == nil {
			id, err = h.feed.Identity(startCtx)
		}
		cancel()
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
	workers.Go(func() { h.prune(ctx) })
	workers.Go(func() { h.watchStall(ctx) })
	workers.Go(func() { h.watchWriters(ctx) })
	defer workers.Wait()
	delay = h.cfg.PollInterval
	pace := readPace{interval: h.cfg.PollInterval, busy: h.cfg.busyPace}
	for {
		h.mu.Lock()
		pos := h.pos
		h.mu.Unlock()
		h.stats.reads.Add(1)
		start, changes := time.Now(), h.stats.changes.Load()
		h.reading <- struct{}{}
		reached, err := h.readChanges(ctx, pos)
		if err == nil {
			h.mu.Lock()
			if !reached.Equal(h.pos) {
				h.pos = reached
				h.dispatched.Store(&reached)
				h.broadcastLocked()
			}
			h.mu.Unlock()
		}
		<-h.reading
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ports.ErrHistoryPruned) {
			err = h.skipPrunedHistory(ctx, pos, err)
		}
		if err != nil {
			h.stats.readErrors.Add(1)
			h.log.Warn("change feed read failed, retrying", "err", err, "retry_in", delay)
			if !sleep(ctx, delay) {
				return nil
			}
			delay = min(2*delay, h.cfg.RetryMax)
			continue
		}
		h.lastRead.Store(time.Now().UnixNano())
		delay = h.cfg.PollInterval
		next := pace.next(start, h.stats.changes.Load()-changes)
		if !sleep(ctx, next-time.Since(start)) {
			return nil
		}
	}
}

// errFeedNotAnswering is why a feed read is given up: the database
// answered nothing for HubConfig.ReadTimeout.
var errFeedNotAnswering = errors.New("the database answered no page")

// readChanges reads the feed from pos, giving the read up when the
// database answers nothing for ReadTimeout: no page within it, the time
// spent offering each page to subscribers aside.
func (h *Hub) readChanges(ctx context.Context, pos domain.ChangePos) (domain.ChangePos, error) {
	readCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	h.readWatch = time.AfterFunc(h.cfg.ReadTimeout, func() { cancel(errFeedNotAnswering) })
	defer func() {
		h.readWatch.Stop()
		h.readWatch = nil
	}()
	reached, err := h.feed.ReadChanges(readCtx, pos, domain.ChangePos{}, h.cfg.BatchSize, h)
	if err != nil && errors.Is(context.Cause(readCtx), errFeedNotAnswering) {
		return reached, fmt.Errorf("%w for %s (--feed-read-timeout): %w", errFeedNotAnswering, h.cfg.ReadTimeout, err)
	}
	return reached, err
}

// prune removes, every PruneInterval, the removals older than the
// retention. It waits for the read in flight to end (wholeReadPosition),
// so a feed that hangs holds back the pruning, never the stall watch
// (watch.go), which runs beside it.
func (h *Hub) prune(ctx context.Context) {
	tick := time.NewTicker(h.cfg.PruneInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		readTo, ok := h.wholeReadPosition(ctx)
		if !ok {
			return
		}
		n, err := h.feed.PruneRemovals(ctx, time.Now().Add(-h.cfg.Retention), readTo)
		if err != nil && ctx.Err() == nil {
			h.log.Warn("pruning old removals failed", "err", err)
		} else if n > 0 {
			h.log.Info("pruned old removals", "count", n, "retention", h.cfg.Retention)
		}
	}
}

// wholeReadPosition returns the position of the last whole read, taken
// between reads: a prune up to it takes nothing the read in flight, or
// any later one, starts before (ports.ErrHistoryPruned), as a prune up to
// a position reached in the middle of a read could. It reports false when
// ctx ends first.
func (h *Hub) wholeReadPosition(ctx context.Context) (domain.ChangePos, bool) {
	select {
	case h.reading <- struct{}{}:
	case <-ctx.Done():
		return domain.ChangePos{}, false
	}
	defer func() { <-h.reading }()
	return h.Position(), true
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
	if w := h.readWatch; w != nil {
		// The database answered; offering the batch is not its time.
		w.Stop()
		defer w.Reset(h.cfg.ReadTimeout)
	}
	if len(batch) == 0 {
		return nil // nothing to offer, and no position to move to
	}
	h.stats.changes.Add(uint64(len(batch)))
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
