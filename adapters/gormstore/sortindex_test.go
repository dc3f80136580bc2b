package gormstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
)

// An order the sort migration does not index is sorted on every page;
// once the operator adds its index (AddSortIndex) the first page and the
// pages after a key are read in index order, with no sort, on both
// databases; once dropped, it is sorted again.
func TestStore_AnOperatorsSortIndexServesItsOrder(t *testing.T) {
	t.Parallel()
	sorted := map[gormstore.Dialect]string{gormstore.Postgres: "Sort", gormstore.SQLite: "USE TEMP B-TREE"}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, d, tiedTickets(5000), gormstore.Config{})
			ctx := context.Background()
			for _, text := range []string{"assignee", "-assignee", "priority", "-priority", "-status", "-team", "team,-created_at,priority", "-assignee,status,-updated_at"} {
				sort, _ := domain.ParseSort(text)
				q := domain.Query{Sort: sort, Assignees: []string{"ann@example.com", ""}}
				first := readAll(t, s, domain.Query{Sort: sort, Limit: 50}, 0)
				k := domain.KeyOf(&first[len(first)-1])
				plans := func() (plans []string) {
					for _, after := range []*domain.RowKey{nil, &k} {
						plan, err := s.ExplainSorted(ctx, q, after, 50)
						if err != nil {
							t.Fatal(err)
						}
						plans = append(plans, plan)
					}
					return plans
				}
				if p := plans(); !strings.Contains(p[0], sorted[d]) {
					t.Errorf("sort=%s without its index: the first page is not sorted?\n%s", text, p[0])
				}
				name, err := s.AddSortIndex(ctx, sort)
				if err != nil {
					t.Fatalf("AddSortIndex(%s): %v", text, err)
				}
				if again, err := s.AddSortIndex(ctx, sort); err != nil || again != name {
					t.Fatalf("AddSortIndex(%s) again: %q, %v; want %q, nil", text, again, err, name)
				}
				for i, p := range plans() {
					if !strings.Contains(p, name) || strings.Contains(p, sorted[d]) {
						t.Errorf("sort=%s (page %d) with index %s: not read in its order:\n%s", text, i+1, name, p)
					}
				}
				if _, err := s.DropSortIndex(ctx, sort); err != nil {
					t.Fatalf("DropSortIndex(%s): %v", text, err)
				}
				if p := plans(); strings.Contains(p[0], name) || !strings.Contains(p[0], sorted[d]) {
					t.Errorf("sort=%s: index %s dropped, yet:\n%s", text, name, p[0])
				}
			}
		})
	}
}

// SortIndexes lists the operator's sort indexes, and only theirs; the
// default order, which has its index, is refused; names fit PostgreSQL's
// 63 bytes and stay distinct.
func TestStore_SortIndexesListsTheOperatorsOnly(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, d, tiedTickets(20), gormstore.Config{})
			ctx := context.Background()
			long, _ := domain.ParseSort("-created_at,-priority,-team,-status,-assignee,-updated_at")
			other, _ := domain.ParseSort("-created_at,-priority,-team,-status,-assignee,updated_at")
			for _, sort := range []domain.Sort{long, other} {
				if _, err := s.AddSortIndex(ctx, sort); err != nil {
					t.Fatalf("AddSortIndex(%s): %v", sort, err)
				}
			}
			list, err := s.SortIndexes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || list[0].Name == list[1].Name {
				t.Fatalf("SortIndexes = %+v, want the two added", list)
			}
			for _, ix := range list {
				if len(ix.Name) > 63 || !strings.Contains(ix.Definition, "DESC") {
					t.Errorf("index %+v: name over 63 bytes or definition without its directions", ix)
				}
			}
			def, _ := domain.ParseSort("updated_at")
			if _, err := s.AddSortIndex(ctx, def); domain.ErrorCode(err) != domain.EInvalid {
				t.Errorf("AddSortIndex(updated_at) = %v, want an invalid-input error", err)
			}
		})
	}
}
