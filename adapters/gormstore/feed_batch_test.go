package gormstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A read hands its reader at most batchSize changes at a time (the
// ChangeFeed contract), also when a page's changed tickets and its
// removals each number fewer than a batch but more together: both lists
// were merged whole up to the end of the full one, and a batch of 100
// came to 101 and more (seen first with a subscription's bulk delete after
// an update). Bulk statements of several batches, on both databases, in
// separate transactions and in one.
func TestFeed_ABatchHoldsAtMostBatchSizeChangesWhenUpdatesAndRemovalsMix(t *testing.T) {
	const batch, n = 100, 450
	ids := func(tickets []domain.Ticket, pick func(i int) bool) string {
		var b strings.Builder
		for i, tk := range tickets {
			if pick(i) {
				if b.Len() > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatInt(tk.ID, 10))
			}
		}
		return b.String()
	}
	for _, tc := range []struct {
		name string
		sql  func(tickets []domain.Ticket) []string
		// removed and updated: how many of the tickets each statement list
		// leaves removed and updated.
		removed, updated func(i int) bool
	}{
		{
			name: "an update, then a bulk delete of several batches",
			sql: func(tk []domain.Ticket) []string {
				return []string{
					`UPDATE tickets SET subject = 'updated' WHERE id = ` + strconv.FormatInt(tk[0].ID, 10),
					`DELETE FROM tickets WHERE id IN (` + ids(tk, func(i int) bool { return i > 0 }) + `)`,
				}
			},
			removed: func(i int) bool { return i > 0 },
			updated: func(i int) bool { return i == 0 },
		},
		{
			name: "a delete, then a bulk update of several batches",
			sql: func(tk []domain.Ticket) []string {
				return []string{
					`DELETE FROM tickets WHERE id = ` + strconv.FormatInt(tk[0].ID, 10),
					`UPDATE tickets SET subject = 'updated' WHERE id IN (` + ids(tk, func(i int) bool { return i > 0 }) + `)`,
				}
			},
			removed: func(i int) bool { return i == 0 },
			updated: func(i int) bool { return i > 0 },
		},
		{
			name: "one transaction updating every other ticket and deleting the rest",
			sql: func(tk []domain.Ticket) []string {
				return []string{`BEGIN; UPDATE tickets SET subject = 'updated' WHERE id IN (` + ids(tk, func(i int) bool { return i%2 == 0 }) + `);
					DELETE FROM tickets WHERE id IN (` + ids(tk, func(i int) bool { return i%2 == 1 }) + `); COMMIT`}
			},
			removed: func(i int) bool { return i%2 == 1 },
			updated: func(i int) bool { return i%2 == 0 },
		},
	} {
		for _, d := range dialects {
			t.Run(fmt.Sprintf("%s/%s", d, tc.name), func(t *testing.T) {
				t.Parallel()
				tickets := demodata.New(5).Tickets(n)
				s := openStore(t, d, tickets, gormstore.Config{})
				ctx := context.Background()
				start, err := s.Horizon(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, statement := range tc.sql(tickets) {
					if err := s.ExecSQL(ctx, statement); err != nil {
						t.Fatalf("%s: %v", statement, err)
					}
				}
				// ReadAll fails the test on a batch of more than batch.
				got, _ := portstest.ReadAll(t, s, start, domain.ChangePos{}, batch)
				seen := map[int64]int{}
				for _, c := range got {
					seen[c.Ticket.ID]++
					if i := indexOf(tickets, c.Ticket.ID); c.Removed != tc.removed(i) || (!c.Removed && c.Ticket.Subject != "updated") {
						t.Errorf("ticket %d (#%d) read as removed=%v subject %q", c.Ticket.ID, i, c.Removed, c.Ticket.Subject)
					}
				}
				for i, tk := range tickets {
					if want := tc.removed(i) || tc.updated(i); want != (seen[tk.ID] == 1) {
						t.Errorf("ticket %d (#%d) read %d times, want it once: %v", tk.ID, i, seen[tk.ID], want)
					}
				}
			})
		}
	}
}

// indexOf returns the index of the ticket with id in tickets, or -1.
func indexOf(tickets []domain.Ticket, id int64) int {
	for i, tk := range tickets {
		if tk.ID == id {
			return i
		}
	}
	return -1
}
