package gormstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// tiedTickets returns n tickets whose sort keys tie often: a few teams
// (some differing only in case, which bytes order before lower case),
// unassigned ones, and timestamps shared by many rows.
func tiedTickets(n int) []domain.Ticket {
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	teams := []string{"billing", "Billing", "zeta", "alpha"}
	assignees := []string{"", "ann@example.com", "", "Bob@example.com", "bob@example.com"}
	subjects := []string{"Refund please", "login fails", "refund twice", "invoice"}
	out := make([]domain.Ticket, n)
	for i := range out {
		out[i] = domain.Ticket{
			ID:        int64(i + 1),
			Team:      teams[i%len(teams)],
			Subject:   subjects[(i/3)%len(subjects)],
			Status:    domain.Statuses[(i/2)%len(domain.Statuses)],
			Priority:  domain.Priorities[(i*7/5)%len(domain.Priorities)],
			Requester: fmt.Sprintf("r%d@example.com", i%9),
			Assignee:  assignees[(i/4)%len(assignees)],
			Tags:      []string{},
			CreatedAt: base.Add(time.Duration(i%5) * time.Minute),
			UpdatedAt: base.Add(time.Hour + time.Duration(i%7)*time.Second),
		}
	}
	return out
}

// sortCases are the orders every sorted test pages through: each field in
// both directions, and mixed directions of several fields.
var sortCases = []string{
	"priority", "-priority", "status", "-status", "created_at", "-created_at", "updated_at", "-updated_at",
	"team", "-team", "assignee", "-assignee",
	"-priority,created_at", "status,-team,assignee", "team,-created_at,priority", "-assignee,status,-updated_at",
	"created_at,-priority,team,-status,assignee,updated_at",
}

// readAll streams q from s in batches of batchSize.
func readAll(t *testing.T, s ports.TicketSource, q domain.Query, batchSize int) []domain.Ticket {
	t.Helper()
	var out []domain.Ticket
	err := s.StreamTickets(context.Background(), q, batchSize, ports.BatchHandlerFunc(func(b []domain.Ticket) error {
		out = append(out, b...)
		return nil
	}))
	if err != nil {
		t.Fatalf("StreamTickets(%+v): %v", q, err)
	}
	return out
}

// pageSorted pages through q with limit rows a page, each page resuming
// after the last row's key, calling between (if set) after each page.
func pageSorted(t *testing.T, s ports.TicketSource, q domain.Query, limit int, between func()) []domain.Ticket {
	t.Helper()
	var out []domain.Ticket
	q.Limit = limit
	for page := 0; ; page++ {
		if page > 2000 {
			t.Fatal("paging does not end")
		}
		got := readAll(t, s, q, 2)
		out = append(out, got...)
		if len(got) < limit {
			return out
		}
		k := domain.KeyOf(&got[len(got)-1])
		q.AfterKey = &k
		if between != nil {
			between()
		}
	}
}

func ids(ts []domain.Ticket) []int64 {
	out := make([]int64, len(ts))
	for i := range ts {
		out[i] = ts[i].ID
	}
	return out
}

func TestStore_SortedPagesFollowTheSortExactly(t *testing.T) {
	t.Parallel()
	// The third database orders text linguistically ("billing" before
	// "Billing"): a sort by team or assignee must still compare bytes. The
	// "indexed" databases have an operator's sort index for every order
	// (AddSortIndex), which their planners read instead of sorting.
	for _, d := range []string{"sqlite", "postgres", "postgres-icu", "sqlite-indexed", "postgres-indexed"} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			var s *gormstore.Store
			switch d {
			case "postgres-icu":
				pgtest.Require(t)
				s = openStoreAt(t, pgtest.NewDatabaseWith(t, "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"), tiedTickets(150))
			case "sqlite-indexed", "postgres-indexed":
				s = openStore(t, gormstore.Dialect(strings.TrimSuffix(d, "-indexed")), tiedTickets(150), gormstore.Config{})
				for _, text := range sortCases {
					if sort, _ := domain.ParseSort(text); gormstore.CheckSortIndexable(sort) == nil {
						if _, err := s.AddSortIndex(context.Background(), sort); err != nil {
							t.Fatalf("AddSortIndex(%s): %v", text, err)
						}
					}
				}
			default:
				s = openStore(t, gormstore.Dialect(d), tiedTickets(150), gormstore.Config{})
			}
			stored := readAll(t, s, domain.Query{}, 0) // as the database keeps them
			filters := []struct {
				name string
				q    domain.Query
			}{
				{"all", domain.Query{}},
				{"teams and statuses", domain.Query{Teams: []string{"billing", "Billing"}, Statuses: []domain.Status{domain.StatusNew, domain.StatusOpen, domain.StatusClosed}}},
				{"unassigned", domain.Query{Assignees: []string{""}}},
				{"search and priority", domain.Query{Search: domain.FoldSearch("REFUND"), Priorities: []domain.Priority{domain.PriorityLow, domain.PriorityUrgent}}},
			}
			for _, text := range sortCases {
				sort, err := domain.ParseSort(text)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range filters {
					q := f.q
					q.Sort = sort
					var want []domain.Ticket
					for i := range stored {
						if q.MatchesFilter(&stored[i]) {
							want = append(want, stored[i])
						}
					}
					slices.SortFunc(want, func(a, b domain.Ticket) int { return sort.CompareTickets(&a, &b) })
					if len(want) == 0 {
						t.Fatalf("%s: the filter matches nothing", f.name)
					}
					if got := readAll(t, s, q, 4); !slices.Equal(ids(got), ids(want)) {
						t.Fatalf("sort=%s, %s, one stream:\n got %v\nwant %v", text, f.name, ids(got), ids(want))
					}
					for _, limit := range []int{1, 3, 7} {
						if limit == 1 && f.name != "all" {
							continue // one-row pages of every filter add time, not cases
						}
						got := pageSorted(t, s, q, limit, nil)
						if !slices.Equal(ids(got), ids(want)) {
							t.Fatalf("sort=%s, %s, pages of %d:\n got %v\nwant %v", text, f.name, limit, ids(got), ids(want))
						}
					}
				}
			}
		})
	}
}

func TestStore_SortedPagesKeepUnchangedRowsWhileWritersMoveOthers(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			for _, text := range []string{"-priority,created_at", "team,-updated_at", "-status,assignee"} {
				s := openStore(t, d, tiedTickets(120), gormstore.Config{})
				stored := readAll(t, s, domain.Query{}, 0)
				sort, _ := domain.ParseSort(text)
				rng := rand.New(rand.NewPCG(1, uint64(len(text))))
				changed := map[int64]bool{}
				between := func() {
					for range 2 {
						tk := stored[rng.IntN(len(stored))]
						tk.Priority = domain.Priorities[rng.IntN(len(domain.Priorities))]
						tk.Status = domain.Statuses[rng.IntN(len(domain.Statuses))]
						tk.Team = []string{"billing", "Billing", "zeta", "alpha"}[rng.IntN(4)]
						tk.UpdatedAt = tk.UpdatedAt.Add(time.Duration(rng.IntN(20)-10) * time.Second)
						if err := s.UpdateTicket(context.Background(), tk); err != nil {
							t.Fatal(err)
						}
						changed[tk.ID] = true
					}
				}
				got := pageSorted(t, s, domain.Query{Sort: sort}, 5, between)
				var want, kept []domain.Ticket
				for _, tk := range stored {
					if !changed[tk.ID] {
						want = append(want, tk)
					}
				}
				slices.SortFunc(want, func(a, b domain.Ticket) int { return sort.CompareTickets(&a, &b) })
				for _, tk := range got {
					if !changed[tk.ID] {
						kept = append(kept, tk)
					}
				}
				if !slices.Equal(ids(kept), ids(want)) {
					t.Fatalf("sort=%s: unchanged rows\n got %v\nwant %v", text, ids(kept), ids(want))
				}
			}
		})
	}
}

// openStoreAt opens a migrated store on the empty database at url,
// holding tickets.
func openStoreAt(t *testing.T, url string, tickets []domain.Ticket) *gormstore.Store {
	t.Helper()
	s, closeStore, err := gormstore.Open(context.Background(), gormstore.Config{URL: url, Migrate: true}, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(closeStore)
	if err := s.InsertTickets(context.Background(), tickets); err != nil {
		t.Fatalf("InsertTickets: %v", err)
	}
	return s
}

// TestStore_PostgresReadsIndexedSortsInOrder checks that the orders the
// sort migration indexes are read from their index, first page and
// later ones, and never sorted.
func TestStore_PostgresReadsIndexedSortsInOrder(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	s := openStore(t, gormstore.Postgres, tiedTickets(5000), gormstore.Config{})
	for _, tc := range []struct{ sort, index string }{
		{"-priority,created_at", "tickets_sort_urgent"},
		{"created_at", "tickets_sort_created"},
		{"status", "tickets_sort_status"},
		{"team", "tickets_sort_team"},
	} {
		sort, _ := domain.ParseSort(tc.sort)
		q := domain.Query{Sort: sort}
		first := readAll(t, s, domain.Query{Sort: sort, Limit: 50}, 0)
		k := domain.KeyOf(&first[len(first)-1])
		for _, after := range []*domain.RowKey{nil, &k} {
			plan, err := s.ExplainSorted(context.Background(), q, after, 50)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plan, "Index Scan using "+tc.index) || strings.Contains(plan, "Sort") {
				t.Errorf("sort=%s (after %v): plan does not read %s in order:\n%s", tc.sort, after != nil, tc.index, plan)
			}
		}
	}
}

// A live subscription's snapshot (AsOf) reads the rows its position
// covers in any order: sorted, the same rows as in the default order, and
// a row changed after the position is left to the live changes.
func TestStore_SortedSnapshotHonoursItsPosition(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := openStore(t, d, tiedTickets(60), gormstore.Config{})
			at, err := s.Horizon(ctx)
			if err != nil {
				t.Fatal(err)
			}
			stored := readAll(t, s, domain.Query{}, 0)
			moved := stored[10]
			moved.Priority, moved.UpdatedAt = domain.PriorityUrgent, moved.UpdatedAt.Add(time.Minute)
			if err := s.UpdateTicket(ctx, moved); err != nil {
				t.Fatal(err)
			}
			plain := readAll(t, s, domain.Query{AsOf: at}, 3)
			sort, _ := domain.ParseSort("-priority,created_at")
			first := readAll(t, s, domain.Query{AsOf: at, Sort: sort, Limit: 20}, 3)
			k := domain.KeyOf(&first[len(first)-1])
			got := append(first, readAll(t, s, domain.Query{AsOf: at, Sort: sort, AfterKey: &k}, 3)...)
			want := slices.Clone(plain)
			slices.SortFunc(want, func(a, b domain.Ticket) int { return sort.CompareTickets(&a, &b) })
			if slices.Contains(ids(plain), moved.ID) || !slices.Equal(ids(got), ids(want)) || len(want) != len(stored)-1 {
				t.Fatalf("sorted snapshot %v,\nwant %v (without %d)", ids(got), ids(want), moved.ID)
			}
		})
	}
}

// A row that does not decode is skipped in a sorted stream as in the
// default order, and the stream moves past it even when it ends a batch or
// a page.
func TestStore_SortedStreamSkipsARowItCannotDecode(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var logs portstest.LogBuffer
			s := openUncheckedStore(t, d, &logs)
			if err := s.InsertTickets(ctx, tiedTickets(40)); err != nil {
				t.Fatal(err)
			}
			for id, column := range map[int64]string{3: "updated_at", 17: "created_at", 18: "created_at", 30: "updated_at"} {
				if err := s.Gorm().Exec(badRowSQL(d, column), id).Error; err != nil {
					t.Fatalf("write a bad row: %v", err)
				}
			}
			good := readAll(t, s, domain.Query{}, 0)
			if len(good) != 36 {
				t.Fatalf("%d rows decode, want 36", len(good))
			}
			for _, text := range []string{"-priority,created_at", "-updated_at", "created_at,team", "team,-assignee"} {
				sort, _ := domain.ParseSort(text)
				want := slices.Clone(good)
				slices.SortFunc(want, func(a, b domain.Ticket) int { return sort.CompareTickets(&a, &b) })
				for _, batchSize := range []int{1, 2, 0} {
					if got := readAll(t, s, domain.Query{Sort: sort}, batchSize); !slices.Equal(ids(got), ids(want)) {
						t.Fatalf("sort=%s, batches of %d:\n got %v\nwant %v", text, batchSize, ids(got), ids(want))
					}
				}
				if got := pageSorted(t, s, domain.Query{Sort: sort}, 3, nil); !slices.Equal(ids(got), ids(want)) {
					t.Fatalf("sort=%s, pages of 3:\n got %v\nwant %v", text, ids(got), ids(want))
				}
			}
		})
	}
}
