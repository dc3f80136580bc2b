package app

import (
	"context"
	"fmt"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// RestoreView counts into sub's view the tickets of q's filter as the
// source holds them now, for a dashboard that resumes: it holds tickets this
// process never sent it. Changes after the dashboard's cursor that are
// already in this count arrive as changes that move nothing, so the view
// converges on the dashboard's as the catch-up and live changes are written.
// Only ids, statuses and teams are kept; no ticket is encoded.
//
// The database may already hold changes the hub has not dispatched yet, so
// until the hub has dispatched every change the read could see, a change
// that leaves the filter is sent to sub as a removal whenever the dashboard
// may have held the ticket (see SubscribeOptions.Resumed).
func (s *Streamer) RestoreView(ctx context.Context, q domain.Query, sub *Subscription) error {
	q.After, q.Limit = domain.Cursor{}, 0
	var scratch []byte
	err := s.src.StreamTickets(ctx, q, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
		var err error
		scratch, err = sub.holdTickets(batch, scratch)
		return err
	}))
	if err != nil {
		return fmt.Errorf("restore the resumed view: %w", err)
	}
	// The view may hold what changes not yet dispatched made of tickets:
	// until the hub passes the frontier, those changes are treated as if
	// the dashboard might hold the ticket.
	frontier, err := sub.hub.feed.Frontier(ctx)
	if err != nil {
		return fmt.Errorf("restore the resumed view: %w", err)
	}
	sub.restoredUpTo(frontier)
	return nil
}

// mayHaveHeld reports whether a dashboard of scope that resumes after the
// start of the read c came from may hold an earlier version of c's ticket:
// the ticket is within the scope now, or left one of the scope's teams
// since. A deletion carries no team of its own, and a ticket now outside
// the scope may have been in it: only its departures can tell.
func mayHaveHeld(scope domain.Scope, c *ports.Change) bool {
	if !c.Removed && scope.Allows(c.Ticket.Team) {
		return true
	}
	for _, team := range c.LeftTeams {
		if scope.Allows(team) {
			return true
		}
	}
	return false
}
