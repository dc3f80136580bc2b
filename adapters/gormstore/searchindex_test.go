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

// The search index serves the query a search makes: with it, PostgreSQL
// finds a rare word through the index, not by reading every ticket in
// order — also after the statement has run often enough for a generic
// plan, which could not know the word is rare — and the answers are the
// same with it and without.
func TestSearchIndex_ServesRareSearches(t *testing.T) {
	tickets := demodata.New(5).Tickets(20_000)
	tickets[12_345].Subject = "Ticket about the qqzzy-unique word"
	s := openStore(t, gormstore.Postgres, tickets, gormstore.Config{})
	ctx := context.Background()
	queries := []domain.Query{{Search: "refund"}, {Search: "qqzzy-unique"}, {Search: "zzzznothing"}, {Search: "order", Statuses: []domain.Status{domain.StatusOpen}, Limit: 30}}
	check := func(stage string) {
		t.Helper()
		for range 6 { // past PostgreSQL's five custom plans before a generic one
			for _, q := range queries {
				var got []int64
				if err := s.StreamTickets(ctx, q, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
					for _, tk := range batch {
						got = append(got, tk.ID)
					}
					return nil
				})); err != nil {
					t.Fatal(err)
				}
				var want []int64
				for _, tk := range portstest.Select(tickets, q) {
					want = append(want, tk.ID)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s, search %q: %d tickets, want %d (or another order)", stage, q.Search, len(got), len(want))
				}
			}
		}
	}
	check("without the index")
	if err := s.SetSearchIndex(ctx, true); err != nil {
		t.Fatal(err)
	}
	if on, err := s.SearchIndex(ctx); err != nil || !on {
		t.Fatalf("SearchIndex after SetSearchIndex(true): %v, %v", on, err)
	}
	if err := s.Gorm().Exec("ANALYZE tickets").Error; err != nil {
		t.Fatal(err)
	}
	check("with the index")
	var plan []string
	if err := s.Gorm().Raw(`EXPLAIN SELECT id FROM tickets WHERE (updated_at, id) > ('0001-01-01', 0)
		AND lower(subject || chr(31) || requester COLLATE "C") LIKE '%qqzzy-unique%' ESCAPE '\'
		ORDER BY updated_at, id LIMIT 1000`).Scan(&plan).Error; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "tickets_search") {
		t.Fatalf("a rare search does not use the index:\n%s", strings.Join(plan, "\n"))
	}
	if err := s.SetSearchIndex(ctx, true); err != nil {
		t.Fatalf("SetSearchIndex(true) again: %v", err)
	}
	if err := s.SetSearchIndex(ctx, false); err != nil {
		t.Fatal(err)
	}
	if on, _ := s.SearchIndex(ctx); on {
		t.Fatal("the index is still there after SetSearchIndex(false)")
	}
	check("after dropping it")

	lite := openStore(t, gormstore.SQLite, nil, gormstore.Config{})
	if err := lite.SetSearchIndex(ctx, true); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("SQLite SetSearchIndex: %v, want EInvalid", err)
	}
}
