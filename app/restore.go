package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// ErrCannotRestore means a team-scoped dashboard's resumed view cannot be
// restored from the database (RestoreView) without risk: the dashboard
// must start afresh (resync) — or say what it holds, for
// Streamer.RestoreClaimed needs no departures. Errors.Is tells which of
// ErrDeparturesPruned and ErrDeparturesInexact.
var ErrCannotRestore = errors.New("cannot restore the resumed view from the database")

var (
	// ErrDeparturesPruned: the departures since the dashboard's snapshot,
	// which tell which tickets it may still hold outside its scope, are
	// pruned (older than the change retention).
	ErrDeparturesPruned = fmt.Errorf("%w: the departures since the dashboard's snapshot are pruned", ErrCannotRestore)
	// ErrDeparturesInexact: a ticket that left the dashboard's teams, which
	// its view does not hold, may have been in them only inside one
	// transaction (ports.ChangeFeed.DeparturesExact): naming it to the
	// dashboard could tell it of a ticket it never could see.
	ErrDeparturesInexact = fmt.Errorf("%w: a departure from its teams cannot be told from one inside a transaction", ErrCannotRestore)
)

// RestoreView counts into sub's view the tickets of q's filter that a
// dashboard resuming from cursor holds: it holds tickets this process never
// sent it. Only ids, statuses and teams are kept; no ticket is encoded.
//
// The dashboard holds each ticket as it was at its last change (cursor.Live):
// the tickets that changed since (ports.ChangeFeed.ChangedSince) it holds
// in an earlier version, or not at all. Those the view holds wait for their
// latest version to be sent before any counts go out; those it does not,
// that the dashboard may hold — within its scope now, or ever departed from
// one of its teams (ports.ChangeFeed.Departed) — are removed first (see
// Hub.ResumeRemovals). Read after the view, the changes see
// everything it saw; a change after them reaches the subscription live.
// The ids kept meanwhile grow with what changed since the cursor.
//
// A dashboard whose snapshot was cut short holds no row past its snapshot
// cursor unless the row changed after the snapshot's watermark (it came
// live, or is still to come): the rest of the snapshot brings the others,
// and they are counted as it is written (Subscription.HoldSnapshot).
//
// A scoped dashboard whose snapshot is older than the retained departures,
// or for which a departure the feed cannot vouch for names a ticket it does
// not hold now, cannot be restored: ErrCannotRestore.
func (s *Streamer) RestoreView(ctx context.Context, q domain.Query, cursor domain.LiveCursor, sub *Subscription) error {
	err := s.restoreView(ctx, q, cursor, sub)
	if err != nil {
		return fmt.Errorf("restore the resumed view: %w", err)
	}
	sub.restoreDone()
	return nil
}

func (s *Streamer) restoreView(ctx context.Context, q domain.Query, cursor domain.LiveCursor, sub *Subscription) error {
	// The snapshot sent the rows after `from` up to the snapshot cursor —
	// every one when it ran to its end without a limit — and the rows that
	// changed after its watermark came live (or are still to come).
	from := cursor.Start
	whole := cursor.SnapshotDone && q.Limit == 0
	q.After, q.Limit = domain.Cursor{}, 0
	var sinceSnapshot heldSet
	if !whole || !from.IsZero() {
		if err := sub.hub.feed.ChangedSince(ctx, cursor.Watermark, func(id int64, _ string, removed bool) error {
			if !removed {
				sinceSnapshot.Put(id, 0)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	held := func(t *domain.Ticket) bool {
		if from.Before(t) && (whole || !cursor.Snapshot.Before(t)) {
			return true
		}
		_, changed := sinceSnapshot.Get(t.ID)
		return changed
	}
	var scratch []byte
	err := s.src.StreamTickets(ctx, q, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
		var err error
		scratch, err = sub.holdTickets(batch, held, scratch)
		return err
	}))
	if err != nil {
		return err
	}
	type change struct {
		id      int64
		team    string
		removed bool
	}
	var changed []change
	if err := sub.hub.feed.ChangedSince(ctx, sub.after, func(id int64, team string, removed bool) error {
		changed = append(changed, change{id, team, removed})
		return nil
	}); err != nil {
		return err
	}
	// A ticket now outside the scope, or deleted, may be one the dashboard
	// holds if it left one of the scope's teams after the watermark of the
	// dashboard's snapshot — not only after its cursor: it may have left
	// before the cursor in a change the dashboard never got (a later change
	// carried the ticket past the cursor). One that left before the
	// watermark was never sent: nothing of it may reach the dashboard.
	// Asked after the changes, it sees every departure they imply.
	var leftScope heldSet
	if !sub.scope.AllTeams {
		ids, err := sub.hub.feed.Departed(ctx, cursor.Watermark, sub.scope.Teams)
		if err != nil {
			return err
		}
		// Asked after them: pruning only moves forward, so a history that
		// still reaches back to the watermark lost none of them first.
		oldest, err := sub.hub.feed.ResumableAfter(ctx)
		if err != nil {
			return err
		}
		if !cursor.Watermark.Includes(oldest) {
			return ErrDeparturesPruned
		}
		for _, id := range ids {
			leftScope.Put(id, 0)
		}
	}
	for _, c := range changed {
		inScope := !c.removed && (sub.scope.AllTeams || sub.scope.Allows(c.team))
		mayHold := inScope || sub.scope.AllTeams
		if !mayHold {
			_, mayHold = leftScope.Get(c.id)
			if mayHold && !sub.hub.feed.DeparturesExact() && !sub.Holds(c.id) {
				return ErrDeparturesInexact
			}
		}
		// A ticket deleted or moved out of the scope that the view holds
		// was read before it left, and its live change offered before the
		// view held it: the view's copy is stale, and the dashboard is to
		// drop the ticket.
		sub.noteChanged(c.id, mayHold, !inScope)
	}
	return nil
}

// RestoreClaimed completes the view of a resumed dashboard whose claim was
// adopted (Subscription.AdoptClaim): the view is what the dashboard holds,
// so only the tickets changed since its cursor are read — by position, the
// cost of what changed, not of what the filter holds. Those it holds wait
// for their latest version to be sent before the counts; one it holds that
// is deleted or out of the scope now, whose change may have been offered
// before the claim was adopted, is removed first (Hub.ResumeRemovals).
func (s *Streamer) RestoreClaimed(ctx context.Context, sub *Subscription) error {
	err := sub.hub.feed.ChangedSince(ctx, sub.after, func(id int64, team string, removed bool) error {
		inScope := !removed && (sub.scope.AllTeams || sub.scope.Allows(team))
		sub.noteChanged(id, false, !inScope)
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore the resumed view from its claim: %w", err)
	}
	sub.restoreDone()
	return nil
}

// mayHaveHeld reports whether a dashboard of scope that resumes may hold
// an earlier version of c's ticket, as far as c alone can tell: the ticket
// is within the scope now. One deleted or now outside the scope may have
// been in it too: only the departures (ports.ChangeFeed.Departed) can
// tell, which the restore asks.
func mayHaveHeld(scope domain.Scope, c *ports.Change) bool {
	return !c.Removed && scope.Allows(c.Ticket.Team)
}
