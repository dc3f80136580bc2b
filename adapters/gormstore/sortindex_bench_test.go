package gormstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// BenchmarkSortedPage100K measures a page of 50 tickets of 100,000 demo
// tickets, first and 20,000 rows deep, for orders without an index of the
// sort migration — then with the operator's index of each
// (AddSortIndex) — beside -priority,created_at, which the migration
// indexes, in the same run. Each figure is the mean of 20 reads. Run it
// once:
//
//	go test -run '^$' -bench SortedPage100K -benchtime 1x -timeout 30m ./adapters/gormstore
func BenchmarkSortedPage100K(b *testing.B) {
	const n, deep, reads = 100_000, 20_000, 20
	for _, d := range dialects {
		b.Run(string(d), func(b *testing.B) {
			var s *gormstore.Store
			if d == gormstore.Postgres {
				s = seededPostgres(b, n)
			} else {
				s = openStore(b, d, demodata.New(1).Tickets(n), gormstore.Config{})
			}
			ctx := context.Background()
			page := func(q domain.Query) time.Duration {
				start := time.Now()
				for range reads {
					err := s.StreamTickets(ctx, q, 0, ports.BatchHandlerFunc(func([]domain.Ticket) error { return nil }))
					if err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(start) / reads
			}
			b.ResetTimer()
			for range b.N {
				for _, text := range []string{"-priority,created_at", "assignee", "-team", "-status,created_at", "priority,-created_at"} {
					sort, _ := domain.ParseSort(text)
					var deepKey domain.RowKey
					seen := 0
					if err := s.StreamTickets(ctx, domain.Query{Sort: sort, Limit: deep}, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
						seen += len(batch)
						deepKey = domain.KeyOf(&batch[len(batch)-1])
						return nil
					})); err != nil || seen != deep {
						b.Fatalf("sort=%s: read %d rows (%v)", text, seen, err)
					}
					for _, indexed := range []bool{false, true} {
						label := "sorted"
						if indexed {
							if text == "-priority,created_at" {
								continue // the migration's index
							}
							if _, err := s.AddSortIndex(ctx, sort); err != nil {
								b.Fatal(err)
							}
							label = "indexed"
						} else if text == "-priority,created_at" {
							label = "migration-index"
						}
						first := page(domain.Query{Sort: sort, Limit: 50})
						after := page(domain.Query{Sort: sort, Limit: 50, AfterKey: &deepKey})
						b.Logf("%s sort=%s, %s: first page %.2f ms, page %d rows deep %.2f ms", d, text, label,
							float64(first.Microseconds())/1000, deep, float64(after.Microseconds())/1000)
					}
				}
			}
		})
	}
}
