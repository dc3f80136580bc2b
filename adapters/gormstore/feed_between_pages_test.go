package gormstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// Ticket X of team A leaves it (T1) before a read of pages of 2, and
// changes again (T2) while that read is between pages, so that the later
// page's snapshot no longer has what T1 left and its target does not
// cover T2. The reads must still end with X as it is now, and the
// departures must still name X as having left A — what a team-A dashboard
// that resumes asks, with no lower bound (app's RestoreView): no change
// can say it, since no read holds X's version at T1 (the feed's changes
// once carried the teams left since the read's start, and lost exactly
// these). On both databases.
func TestFeed_ATicketThatLeftItsTeamAndChangedBetweenPages(t *testing.T) {
	for _, tc := range []struct {
		name string
		// leave is T1, between the writes before the read; then, T2.
		leave, then func(ctx context.Context, s *gormstore.Store, x domain.Ticket) error
		want        string // X at the end: "removed" or its team
	}{
		{
			name:  "deleted, then re-inserted in B",
			leave: func(ctx context.Context, s *gormstore.Store, x domain.Ticket) error { return s.DeleteTicket(ctx, x.ID) },
			then: func(ctx context.Context, s *gormstore.Store, x domain.Ticket) error {
				x.Team, x.Subject = "B", "back in B"
				return s.InsertTickets(ctx, []domain.Ticket{x})
			},
			want: "B",
		},
		{
			name: "moved to C, then deleted",
			leave: func(ctx context.Context, s *gormstore.Store, x domain.Ticket) error {
				x.Team, x.UpdatedAt = "C", x.UpdatedAt.Add(1)
				return s.UpdateTicket(ctx, x)
			},
			then: func(ctx context.Context, s *gormstore.Store, x domain.Ticket) error { return s.DeleteTicket(ctx, x.ID) },
			want: "removed",
		},
		{
			name: "moved to C, then edited",
			leave: func(ctx context.Context, s *gormstore.Store, x domain.Ticket) error {
				x.Team, x.UpdatedAt = "C", x.UpdatedAt.Add(1)
				return s.UpdateTicket(ctx, x)
			},
			then: func(ctx context.Context, s *gormstore.Store, x domain.Ticket) error {
				x.Team, x.Subject, x.UpdatedAt = "C", "edited in C", x.UpdatedAt.Add(2)
				return s.UpdateTicket(ctx, x)
			},
			want: "C",
		},
	} {
		for _, d := range []gormstore.Dialect{gormstore.SQLite, gormstore.Postgres} {
			t.Run(tc.name+"/"+string(d), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				tickets := demodata.New(11).Tickets(5)
				for i := range tickets {
					tickets[i].Team = "A"
				}
				s := openStore(t, d, tickets, gormstore.Config{})
				_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, 5)
				for _, tk := range tickets[:4] { // four changes, so that a page of 2 fills before X's
					tk.Subject = "T0"
					tk.UpdatedAt = tk.UpdatedAt.Add(1)
					if err := s.UpdateTicket(ctx, tk); err != nil {
						t.Fatal(err)
					}
				}
				x := tickets[4]
				if err := tc.leave(ctx, s, x); err != nil { // T1
					t.Fatal(err)
				}
				changedAgain := false
				got := "nothing" // X as the reads last said: "removed" or its team
				h := ports.ChangeHandlerFunc(func(batch []ports.Change) error {
					for _, ch := range batch {
						switch {
						case ch.Ticket.ID != x.ID:
						case ch.Removed:
							got = "removed"
						default:
							got = strings.Clone(ch.Ticket.Team) // valid only during the call
						}
					}
					if !changedAgain {
						changedAgain = true
						return tc.then(ctx, s, x) // T2, between pages
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
				if got != tc.want {
					t.Errorf("the reads' last change of ticket %d: %s, want %s", x.ID, got, tc.want)
				}
				if ids, err := s.Departed(ctx, domain.ChangePos{}, []string{"A"}); err != nil || !slices.Contains(ids, x.ID) {
					t.Errorf("Departed from A = %v, %v; want ticket %d, which left it", ids, err, x.ID)
				}
			})
		}
	}
}
