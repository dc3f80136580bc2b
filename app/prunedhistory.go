package app

import (
	"context"
	"fmt"

	"github.com/ticketstream/ticketstream/domain"
)

// skipPrunedHistory handles a read that found the retention had already
// pruned removals or departures the hub had not read (cause wraps
// ports.ErrHistoryPruned): another replica, ahead of this one, pruned them
// while this one lagged, or a transaction committed them longer than the
// retention after their statement — or, as the check is coarse, a writing
// transaction open longer than the retention ended after a newer removal
// was pruned (a false alarm, docs/operations.md). The hub cannot tell its
// subscribers of those
// removals, so none may go on as if it had: every subscription fails with
// ports.ErrHistoryPruned — its dashboard reconnects, and since its cursor
// lies before what was pruned, it gets resync and a fresh snapshot — and
// the hub starts again at the feed's horizon, as at start. It returns an
// error only if the horizon could not be read; the read is then retried
// as any failed one, and fails the same way until it succeeds.
func (h *Hub) skipPrunedHistory(ctx context.Context, from domain.ChangePos, cause error) error {
	pos, err := h.feed.Horizon(ctx)
	if err != nil {
		return fmt.Errorf("%w; then the horizon: %w", cause, err)
	}
	h.reading <- struct{}{} // between reads, as a subscriber's start is
	h.mu.Lock()
	failed := len(h.subs)
	for _, s := range h.subs {
		s.failPruned()
	}
	h.pos = pos
	h.dispatched.Store(&pos)
	h.broadcastLocked()
	h.mu.Unlock()
	<-h.reading
	h.stats.historyPruned.Add(1)
	h.log.Error("the change history was pruned before this server read it: every live dashboard starts afresh",
		"from", from, "horizon", pos, "dashboards", failed, "err", cause,
		"hint", "another replica with a shorter --change-retention, a replica that lagged, or a transaction open longer than the retention")
	return nil
}

// failPruned fails s with ports.ErrHistoryPruned: the hub moved past
// changes it could not read. Called with the hub's lock held.
func (s *Subscription) failPruned() {
	s.mu.Lock()
	if s.closed || s.pruned {
		s.mu.Unlock()
		return
	}
	s.pruned = true
	s.dropLocked()
	s.accountLocked()
	notify := s.onReady
	s.mu.Unlock()
	if notify != nil {
		notify()
	}
}
