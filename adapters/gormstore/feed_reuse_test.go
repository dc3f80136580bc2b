package gormstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A read keeps its page and batch for the next read (readBuffers): a
// handler has a batch only for its call, but the changes it copies out —
// their strings and tags included — must stay as they were read while later
// reads, sequential and concurrent, fill the same buffers with other
// versions of the same tickets. Several batches a read, on both databases.
func TestFeed_ChangesCopiedFromABatchStayAsReadWhileLaterReadsReuseItsBuffers(t *testing.T) {
	const n, batch, rounds = 300, 50, 3
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(9).Tickets(n)
			s := openStore(t, d, tickets, gormstore.Config{})
			ctx := context.Background()
			_, from := portstest.WaitChanges(t, s, domain.ChangePos{}, batch, n)
			subject := func(round int, id int64) string { return fmt.Sprintf("round %d of ticket %d", round, id) }
			tags := func(round int, id int64) []string {
				return []string{fmt.Sprintf("round-%d", round), fmt.Sprintf("ticket-%d", id)}
			}
			kept := make([][]ports.Change, rounds)
			for round := range rounds {
				for _, tk := range tickets {
					tk.Subject, tk.Tags = subject(round, tk.ID), tags(round, tk.ID)
					if err := s.UpdateTicket(ctx, tk); err != nil {
						t.Fatal(err)
					}
				}
				// Readers beside this one take buffers from the same pool
				// and put them back, filled with this round's versions.
				var wg sync.WaitGroup
				for range 3 {
					wg.Go(func() {
						_, err := s.ReadChanges(ctx, domain.ChangePos{}, domain.ChangePos{}, batch, ports.ChangeHandlerFunc(func([]ports.Change) error { return nil }))
						if err != nil {
							t.Error(err)
						}
					})
				}
				reached, err := s.ReadChanges(ctx, from, domain.ChangePos{}, batch, ports.ChangeHandlerFunc(func(b []ports.Change) error {
					kept[round] = append(kept[round], b...) // values only: no deep copy
					return nil
				}))
				wg.Wait()
				if err != nil {
					t.Fatal(err)
				}
				from = reached
			}
			for round, changes := range kept {
				if len(changes) != n {
					t.Fatalf("round %d: read %d changes, want %d", round, len(changes), n)
				}
				for _, c := range changes {
					id := c.Ticket.ID
					if c.Ticket.Subject != subject(round, id) || !slices.Equal(c.Ticket.Tags, tags(round, id)) {
						t.Fatalf("round %d: a change kept from a batch now reads subject %q, tags %q; it was read as %q, %q",
							round, c.Ticket.Subject, c.Ticket.Tags, subject(round, id), tags(round, id))
					}
				}
			}
		})
	}
}
