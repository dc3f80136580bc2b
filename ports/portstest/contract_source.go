package portstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// OpenSource makes a TicketSource holding exactly tickets, for one test.
// It registers its own cleanup with t.
type OpenSource func(t *testing.T, tickets []domain.Ticket) ports.TicketSource

// ContractTickets returns the data set of the TicketSource contract: demo
// tickets plus rows that share an updated_at (so that ordering by id is
// tested), an unassigned one, hostile strings (no NUL: PostgreSQL text refuses it)
// and a long subject.
func ContractTickets() []domain.Ticket {
	tickets := demodata.New(42).Tickets(2500)
	same := demodata.Epoch.Add(-time.Hour)
	for i := range 5 {
		t := &tickets[100+i*7]
		t.UpdatedAt, t.CreatedAt = same, same.Add(-time.Minute)
	}
	tickets[3].Subject = "quotes \" backslash \\ <script>&amp; \u2028 tab\t ctl\x01 émoji 🎫"
	tickets[4].Assignee = ""
	tickets[6].Subject = string(slices.Repeat([]byte("long subject "), 78))
	// What a search must take literally: LIKE's wildcards and escape, and
	// letters beyond A to Z, which fold to nothing.
	tickets[7].Subject = "Refund 100% of ORDER_42 \\ now, Über-urgent"
	tickets[8].Requester = "Zoë.Ölund@Example.org"
	return tickets
}

// TestTicketSourceContract checks that the TicketSource made by open behaves
// as ports.TicketSource documents: order, filters, cursor, limit, batch
// sizes, errors and cancellation.
func TestTicketSourceContract(t *testing.T, open OpenSource) {
	all := ContractTickets()
	src := open(t, all)
	ctx := context.Background()
	sorted := SortedTickets(all)
	mid := sorted[len(sorted)/2]

	queries := []struct {
		name string
		q    domain.Query
	}{
		{"all", domain.Query{}},
		{"one status", domain.Query{Statuses: []domain.Status{domain.StatusOpen}}},
		{"statuses and priority", domain.Query{Statuses: []domain.Status{domain.StatusNew, domain.StatusPending}, Priorities: []domain.Priority{domain.PriorityUrgent}}},
		{"team", domain.Query{Teams: []string{"billing"}}},
		{"teams and status", domain.Query{Teams: []string{"billing", "enterprise"}, Statuses: []domain.Status{domain.StatusSolved}}},
		{"unassigned", domain.Query{Assignees: []string{""}}},
		{"agent or unassigned", domain.Query{Assignees: []string{"", "karen.osei@billing.support.example.com"}}},
		{"unknown team", domain.Query{Teams: []string{"nobody"}}},
		{"after cursor", domain.Query{After: mid.Cursor()}},
		{"after tied cursor", domain.Query{After: all[100].Cursor()}},
		{"after last", domain.Query{After: sorted[len(sorted)-1].Cursor()}},
		{"limit", domain.Query{Limit: 10}},
		{"limit across batches", domain.Query{Limit: 1234}},
		{"filter, cursor and limit", domain.Query{Statuses: []domain.Status{domain.StatusOpen}, After: mid.Cursor(), Limit: 50}},
		{"search", domain.Query{Search: "refund"}},
		{"search of wildcards and escapes", domain.Query{Search: domain.FoldSearch(`100% of ORDER_42 \ now`)}},
		{"search, a wildcard taken literally", domain.Query{Search: "100_"}},
		{"search beyond A to Z", domain.Query{Search: "über-urgent"}},
		{"search beyond A to Z, exact", domain.Query{Search: domain.FoldSearch("Über-URGENT")}},
		{"search of requesters", domain.Query{Search: domain.FoldSearch("ZOë.Ölund@EXAMPLE")}},
		{"search, filter, cursor and limit", domain.Query{Search: "order", Statuses: []domain.Status{domain.StatusOpen}, After: mid.Cursor(), Limit: 20}},
	}
	for _, tc := range queries {
		for _, batchSize := range []int{0, 1, 7, 1000} {
			t.Run(fmt.Sprintf("%s/batch=%d", tc.name, batchSize), func(t *testing.T) {
				got, batches, err := collect(ctx, src, tc.q, batchSize)
				if err != nil {
					t.Fatalf("StreamTickets: %v", err)
				}
				want := Select(all, tc.q)
				if d := diffTickets(got, want); d != "" {
					t.Fatalf("rows differ from the reference: %s", d)
				}
				limit := batchSize
				if limit <= 0 {
					limit = ports.DefaultBatchSize
				}
				for i, n := range batches {
					if n < 1 || n > limit {
						t.Fatalf("batch %d has %d rows, want 1..%d", i, n, limit)
					}
				}
			})
		}
	}

	t.Run("handler error stops the stream", func(t *testing.T) {
		boom := errors.New("boom")
		calls := 0
		err := src.StreamTickets(ctx, domain.Query{}, 10, ports.BatchHandlerFunc(func([]domain.Ticket) error {
			calls++
			if calls == 3 {
				return boom
			}
			return nil
		}))
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want it to wrap the handler's error", err)
		}
		if calls != 3 {
			t.Fatalf("handler called %d times, want 3", calls)
		}
	})

	t.Run("cancelled context stops the stream", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		calls := 0
		err := src.StreamTickets(cctx, domain.Query{}, 10, ports.BatchHandlerFunc(func([]domain.Ticket) error {
			calls++
			if calls == 2 {
				cancel()
			}
			return nil
		}))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want it to wrap context.Canceled", err)
		}
		if calls != 2 {
			t.Fatalf("handler called %d times after cancel, want no more batches (2 calls)", calls)
		}
	})

	t.Run("already cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := src.StreamTickets(cctx, domain.Query{}, 10, ports.BatchHandlerFunc(func([]domain.Ticket) error {
			t.Error("handler called with a cancelled context")
			return nil
		}))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want it to wrap context.Canceled", err)
		}
	})

	t.Run("empty source", func(t *testing.T) {
		empty := open(t, nil)
		got, _, err := collect(ctx, empty, domain.Query{}, 0)
		if err != nil || len(got) != 0 {
			t.Fatalf("got %d rows, err %v; want none and no error", len(got), err)
		}
	})
}

// collect runs a stream and copies what it yields (batches are reused).
func collect(ctx context.Context, src ports.TicketSource, q domain.Query, batchSize int) ([]domain.Ticket, []int, error) {
	var got []domain.Ticket
	var sizes []int
	err := src.StreamTickets(ctx, q, batchSize, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
		sizes = append(sizes, len(batch))
		for _, t := range batch {
			t.Tags = slices.Clone(t.Tags)
			got = append(got, t)
		}
		return nil
	}))
	return got, sizes, err
}

// diffTickets describes the first difference between two ticket lists.
func diffTickets(got, want []domain.Ticket) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if d := DiffTicket(got[i], want[i]); d != "" {
			return fmt.Sprintf("row %d: %s", i, d)
		}
	}
	return ""
}

// DiffTicket describes how got differs from want, or returns "". Timestamps
// compare as instants; a nil and an empty tag list are the same.
func DiffTicket(got, want domain.Ticket) string {
	switch {
	case got.ID != want.ID:
		return fmt.Sprintf("id %d, want %d", got.ID, want.ID)
	case got.Team != want.Team, got.Subject != want.Subject, got.Status != want.Status,
		got.Priority != want.Priority, got.Requester != want.Requester, got.Assignee != want.Assignee:
		return fmt.Sprintf("ticket %d: got %+v, want %+v", got.ID, got, want)
	case !slices.Equal(got.Tags, want.Tags):
		return fmt.Sprintf("ticket %d: tags %q, want %q", got.ID, got.Tags, want.Tags)
	case !got.CreatedAt.Equal(want.CreatedAt), !got.UpdatedAt.Equal(want.UpdatedAt):
		return fmt.Sprintf("ticket %d: times %v/%v, want %v/%v", got.ID, got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	return ""
}
