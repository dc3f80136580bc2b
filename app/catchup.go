// What a resuming dashboard missed: the changes between its cursor and its
// new subscription's start (CatchUp), and the removals of tickets it may
// still show though they left its filter (ResumeRemovals). Both read or
// encode changes of their own and share no state with the feed loop:
// they take no hub lock; ResumeRemovals reads its subscription under the
// subscription's lock.

package app

import (
	"context"
	"fmt"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// ResumeRemovals returns, for a resumed subscription whose view has been
// restored (Streamer.RestoreView), the removals of the tickets its
// dashboard may still show though they no longer pass its filter: those
// that changed while it was away within its scope, and those that left its
// teams, that the view does not hold. They are positioned at `at`,
// encoded; the caller writes them before the catch-up, at the position the
// dashboard resumes from, and releases each.
//
// The catch-up alone cannot tell: a ticket that left and changed again
// after the subscription began is not in it, and no change says which
// teams its ticket left (ports.Change). Nor may they wait for the
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

// CatchUp reads the changes until has and after lacks that concern a dashboard of
// q's filter and calls fn with them, encoded, in order; fn owns
// each Delivery and must Release it, and the subscription must Apply them
// before they are written. A resuming client gets these first, then its
// subscription's.
//
// A ticket that passes the filter comes as an upsert; one that no longer
// does, as a removal when the dashboard holds it: holds says so, for a
// subscription whose view has been restored (Subscription.Holds: what it
// holds, or may and was told to drop, is known); nil holds nothing.
// Nothing is ever sent of a ticket the dashboard does not hold and may not
// see, not even its id.
func (h *Hub) CatchUp(ctx context.Context, q domain.Query, after, until domain.ChangePos, holds func(id int64) bool, fn func([]Delivery) error) error {
	if after.Includes(until) {
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
			case holds != nil && holds(t.ID):
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
