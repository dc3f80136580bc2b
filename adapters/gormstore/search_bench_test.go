package gormstore_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// BenchmarkSearch1M measures a search (q) over 1,000,000 demo tickets on
// each database: the first 100 matches (what a dashboard shows first) and
// every match, for a common word, a rare one (one ticket's order number)
// and one that matches nothing — a search's worst case without an index,
// since the keyset scan then reads every ticket — beside the same reads
// with no search, in the same run. PostgreSQL runs them without the search
// index, then builds it (SetSearchIndex, timed) and runs them again;
// SQLite has none and scans. Run it once:
//
//	go test -run '^$' -bench Search1M -benchtime 1x -timeout 30m ./adapters/gormstore
func BenchmarkSearch1M(b *testing.B) {
	const n = 1_000_000
	for _, d := range []gormstore.Dialect{gormstore.Postgres, gormstore.SQLite} {
		b.Run(string(d), func(b *testing.B) {
			var s *gormstore.Store
			if d == gormstore.Postgres {
				s = seededPostgres(b, n)
			} else {
				s = openStore(b, d, nil, gormstore.Config{})
				gen := demodata.New(1)
				for left := n; left > 0; left -= 50_000 {
					if err := s.InsertTickets(context.Background(), gen.Tickets(min(left, 50_000))); err != nil {
						b.Fatal(err)
					}
				}
			}
			ctx := context.Background()
			var sample domain.Ticket
			if err := s.StreamTickets(ctx, domain.Query{Limit: 1}, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
				sample = batch[0]
				return nil
			})); err != nil {
				b.Fatal(err)
			}
			rare := regexp.MustCompile(`#[0-9]{7}`).FindString(sample.Subject)
			if rare == "" {
				rare = sample.Requester
			}
			b.ResetTimer()
			for range b.N {
				indexes := []string{"scan"}
				if d == gormstore.Postgres {
					indexes = append(indexes, "index")
				}
				for _, index := range indexes {
					if index == "index" {
						start := time.Now()
						if err := s.SetSearchIndex(ctx, true); err != nil {
							b.Fatal(err)
						}
						b.Logf("%s: search index built in %v", d, time.Since(start).Round(time.Second))
						if err := s.SetSearchIndex(ctx, true); err != nil || s.Gorm().Exec("ANALYZE tickets").Error != nil {
							b.Fatal(err)
						}
					}
					for _, c := range []struct{ name, q string }{{"none", ""}, {"common", "refund"}, {"rare", domain.FoldSearch(rare)}, {"no-match", "zqzqzq"}} {
						first, firstRows := timeStream(b, s, domain.Query{Search: c.q, Limit: 100})
						all, rows := timeStream(b, s, domain.Query{Search: c.q})
						b.ReportMetric(float64(first.Microseconds())/1000, index+"-"+c.name+"-first100-ms")
						b.ReportMetric(float64(all.Microseconds())/1000, index+"-"+c.name+"-all-ms")
						b.Logf("%s (%s), q=%q: first %d rows in %v, all %d rows in %v", d, index, c.q, firstRows, first.Round(time.Millisecond), rows, all.Round(time.Millisecond))
					}
				}
			}
		})
	}
}

// timeStream streams q to the end and returns how long it took and how
// many rows came.
func timeStream(b *testing.B, s *gormstore.Store, q domain.Query) (time.Duration, int) {
	b.Helper()
	rows := 0
	start := time.Now()
	err := s.StreamTickets(context.Background(), q, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
		rows += len(batch)
		return nil
	}))
	if err != nil {
		b.Fatal(fmt.Errorf("stream %+v: %w", q, err))
	}
	return time.Since(start), rows
}
