package gormstore_test

import (
	"context"
	"slices"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// Ticket X of team A is deleted (T1) and re-inserted in team B (T2) while
// a read that began before T2 is between pages. The removal, read on a
// later page in a later snapshot, must not be dropped because the ticket
// exists again there: the re-insert is the next read's, whose start covers
// T1 and so whose LeftTeams for X is empty — a dashboard scoped to team A
// would never be told that X left it. On both databases.
func TestFeed_ATicketReinsertedBetweenPagesStillLeftItsTeam(t *testing.T) {
	for _, d := range []gormstore.Dialect{gormstore.SQLite, gormstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			reinsertedBetweenPages(t, d)
		})
	}
}

func reinsertedBetweenPages(t *testing.T, d gormstore.Dialect) {
	ctx := context.Background()
	tickets := demodata.New(11).Tickets(5)
	for i := range tickets {
		tickets[i].Team = "A"
	}
	s := openStore(t, d, tickets, gormstore.Config{})
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, 5)
	for _, tk := range tickets[:4] { // four changes, so that a page of 2 fills before the removal
		tk.Subject = "T0"
		tk.UpdatedAt = tk.UpdatedAt.Add(1)
		if err := s.UpdateTicket(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	x := tickets[4]
	if err := s.DeleteTicket(ctx, x.ID); err != nil { // T1
		t.Fatal(err)
	}
	reinserted := false
	var all []ports.Change
	h := ports.ChangeHandlerFunc(func(batch []ports.Change) error {
		for _, ch := range batch {
			ch.LeftTeams = append([]string(nil), ch.LeftTeams...)
			all = append(all, ch)
		}
		if !reinserted {
			reinserted = true
			y := x
			y.Team = "B"
			y.Subject = "back in B"
			if err := s.InsertTickets(ctx, []domain.Ticket{y}); err != nil { // T2, between pages
				return err
			}
		}
		return nil
	})
	reached, err := s.ReadChanges(ctx, start, domain.ChangePos{}, 2, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadChanges(ctx, reached, domain.ChangePos{}, 2, h); err != nil {
		t.Fatal(err)
	}
	told := false
	for _, ch := range all {
		if ch.Ticket.ID != x.ID {
			continue
		}
		t.Logf("change of X: removed=%v team=%q left=%v at %v", ch.Removed, ch.Ticket.Team, ch.LeftTeams, ch.Pos)
		if ch.Removed || slices.Contains(ch.LeftTeams, "A") {
			told = true
		}
	}
	if !told {
		t.Fatalf("ticket %d left team A (deleted, then re-inserted in B) and no change says so", x.ID)
	}
}
