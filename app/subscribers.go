// The hub's registry of subscribers: Subscribe adds a Subscription to
// Hub.subs and fixes the position it starts after, unsubscribe (through
// Subscription.Close) removes it.
//
// Who guards what. Hub.mu guards subs and the position read with it, so
// that a new subscriber misses no change dispatched after its position and
// gets none dispatched before; Hub.reading keeps a feed read from running
// meanwhile, so that the position is a whole read's. Subscribe takes no Subscription lock: the
// subscription is not shared until it is in subs.

package app

import (
	"context"
	"fmt"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// SubscribeOptions say where a subscription starts.
type SubscribeOptions struct {
	// SkipUntil: changes it covers are not queued, for a client that has
	// already seen them.
	SkipUntil domain.ChangePos
	// Resumed says the dashboard already holds tickets this process never
	// sent it (it resumes a subscription; see Streamer.RestoreView). Until
	// its view is restored, a change that does not pass the filter is sent
	// as a removal when Scope allows the ticket's current team; the
	// restore finds the others the dashboard may hold (those deleted or
	// moved out of its teams) and removes them first.
	Resumed bool
	// Scope is what the dashboard's credentials may see.
	Scope domain.Scope
	// After is where a resumed dashboard stood (its cursor's last change):
	// a ticket that left one of its teams since may be one it holds.
	After domain.ChangePos
	// Source reads a live window's rows (a query with Window): required
	// then, unused otherwise.
	Source ports.TicketSource
	// Digester keeps the digest of what the dashboard holds (see
	// Subscription.HeldState); nil keeps none.
	Digester *domain.HeldDigester
}

// Subscribe registers a subscriber for q (already restricted to the
// caller's scope) and returns it with the position it starts after: every
// change after that position reaches it, in order. It waits until the hub
// has started, or ctx ends.
func (h *Hub) Subscribe(ctx context.Context, q domain.Query, opts SubscribeOptions) (*Subscription, domain.ChangePos, error) {
	if q.Window > 0 && (opts.Source == nil || opts.Resumed || !opts.SkipUntil.IsZero()) {
		return nil, domain.ChangePos{}, fmt.Errorf("subscribe: a live window needs a source and starts afresh")
	}
	for {
		if h.stats.memoryBytes.Load() >= h.cfg.MemoryBudget {
			h.stats.overBudget.Add(1)
			return nil, domain.ChangePos{}, fmt.Errorf("subscribe: %w", ErrMemoryBudget)
		}
		h.mu.Lock()
		ready, wake := h.ready, h.wake
		h.mu.Unlock()
		if ready {
			// Between reads: the position is a snapshot's.
			select {
			case h.reading <- struct{}{}:
			case <-ctx.Done():
				return nil, domain.ChangePos{}, fmt.Errorf("subscribe: %w", ctx.Err())
			}
			s := &Subscription{hub: h, q: q, skipUntil: opts.SkipUntil, resumed: opts.Resumed, countsHeld: opts.Resumed, inexact: opts.Resumed,
				scope: opts.Scope, after: opts.After, view: view{digester: opts.Digester}}
			h.mu.Lock()
			pos := h.pos
			if q.Window > 0 {
				// Its first read starts now, as of pos; changes after it
				// wait for the read's rows.
				s.win = newLiveWindow(q, opts.Source, pos)
				s.mu.Lock()
				s.maybeLoadLocked()
				s.mu.Unlock()
			}
			h.subs = append(h.subs, s)
			h.mu.Unlock()
			<-h.reading
			return s, pos, nil
		}
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
