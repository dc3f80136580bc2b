// What a resuming dashboard says it holds: its claim, checked against the
// held digest of its cursor, spares the restore reading the dashboard's
// whole filter back from the database (see Streamer.RestoreClaimed).
//
// A claim is kept apart from the view until AdoptClaim: the hub offers
// changes against the view, and a ticket that is only claimed must not
// make a change of it reach the dashboard — a claim that does not match is
// one the server never sent, and may name tickets outside the scope.

package app

import (
	"fmt"
	"slices"

	"github.com/ticketstream/ticketstream/domain"
)

// maxClaimedTeam bounds a claimed team's name: what a ticket's team may be,
// escaped at worst, with room to spare.
const maxClaimedTeam = 8 * domain.MaxNameLen

// HeldTicket is one ticket a resuming dashboard says it holds: its id, its
// team (an index into the claim's team names) and its status, as it was
// last sent.
type HeldTicket struct {
	ID     int64
	Team   int
	Status domain.Status
}

// HeldState returns the digest of what the dashboard holds once it has
// applied everything written to it so far (domain.HeldDigest), how many
// tickets that is, and whether they are known: not for a subscription
// without a digester or a live window, nor while the view may differ from
// what the dashboard holds (a resumed one not yet restored from a claim,
// or restored from the database and still waiting for its counts).
func (s *Subscription) HeldState() (digest domain.HeldDigest, count int, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.view.digester == nil || s.inexact || s.win != nil || s.failureLocked() != nil {
		return domain.HeldDigest{}, 0, false
	}
	return s.view.digest, s.view.total, true
}

// Claim adds tickets to what the resuming dashboard says it holds; teams
// names the teams the tickets' Team index. The claim counts against the
// memory budget like the view it may become. A ticket of a team or status
// the subscription could not have sent (outside its scope or filter) makes
// the claim one AdoptClaim refuses, whatever its digest. A ticket claimed twice, a team
// index out of range or an unknown status is an EInvalid error naming the
// "held" parameter; a subscription that failed returns its error.
func (s *Subscription) Claim(teams []string, tickets []HeldTicket) error {
	escaped := make([][]byte, len(teams))
	allowed := make([]bool, len(teams))
	for i, team := range teams {
		if len(team) > maxClaimedTeam {
			return domain.Invalidf("held", "a team name of %d bytes (at most %d)", len(team), maxClaimedTeam)
		}
		escaped[i] = appendEscaped(nil, team)
		allowed[i] = s.scope.Allows(team) && (len(s.q.Teams) == 0 || slices.Contains(s.q.Teams, team))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failureLocked(); err != nil {
		return err
	}
	if s.closed {
		return nil // nothing becomes of it: keep none
	}
	if s.claim == nil {
		s.claim = &view{digester: s.view.digester}
	}
	for _, t := range tickets {
		switch {
		case t.Team < 0 || t.Team >= len(teams):
			return domain.Invalidf("held", "ticket %d: no team %d among the %d named", t.ID, t.Team, len(teams))
		case !t.Status.Valid():
			return domain.Invalidf("held", "ticket %d: unknown status %q", t.ID, t.Status)
		case s.claim.has(t.ID):
			return domain.Invalidf("held", "ticket %d claimed twice", t.ID)
		}
		if !allowed[t.Team] || (len(s.q.Statuses) > 0 && !slices.Contains(s.q.Statuses, t.Status)) {
			// Never a ticket this subscription could have sent: whatever
			// the digest says, the claim is not believed.
			s.claimTainted = true
		}
		s.claim.put(t.ID, statusNumber(t.Status), escaped[t.Team])
	}
	s.accountLocked()
	if err := s.failureLocked(); err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	return nil
}

// AdoptClaim makes what the dashboard claimed (nothing, if it claimed
// nothing) the view when its digest is want, the held digest of the cursor
// it resumes from, and reports whether it did. Either way the claim is
// gone: one that does not match leaves the view to be restored from the
// database (Streamer.RestoreView). Call it before either restore, while the
// view holds nothing.
func (s *Subscription) AdoptClaim(want domain.HeldDigest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, tainted := s.claim, s.claimTainted
	s.claim, s.claimTainted = nil, false
	if c == nil {
		c = &view{digester: s.view.digester}
	}
	ok := c.digester != nil && c.digest == want && !tainted && s.view.total == 0 && s.failureLocked() == nil
	if ok {
		s.view, s.inexact = *c, false
	}
	s.accountLocked()
	return ok
}
