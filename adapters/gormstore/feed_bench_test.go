package gormstore_test

import (
	"context"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// Run with:
//
//	go test -run '^$' -bench FeedBulkUpdate -benchtime 20x ./adapters/gormstore
//
// BenchmarkFeedBulkUpdate reads the change feed of one UPDATE statement of
// bulkRows tickets, on each dialect, in batches of 1000: "same-team" changes
// only subjects, "team-moved" moves every ticket to another team (one
// departure each, which the triggers record and a read does not look at).
// Its baseline is the same-team read.
const bulkRows = 3000

func BenchmarkFeedBulkUpdate(b *testing.B) {
	for _, d := range dialects {
		for _, bc := range []struct{ name, set string }{
			{"same-team", `subject = subject || ' (bulk)'`},
			{"team-moved", `team = team || '-moved'`},
		} {
			b.Run(string(d)+"/"+bc.name, func(b *testing.B) {
				s := openStore(b, d, demodata.New(3).Tickets(bulkRows), gormstore.Config{})
				ctx := context.Background()
				_, from := portstest.WaitChanges(b, s, domain.ChangePos{}, 1000, bulkRows)
				if err := s.Gorm().Exec(`UPDATE tickets SET ` + bc.set).Error; err != nil {
					b.Fatal(err)
				}
				_, until := portstest.WaitChanges(b, s, from, 1000, bulkRows)
				rows := 0
				h := ports.ChangeHandlerFunc(func(batch []ports.Change) error { rows += len(batch); return nil })
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if _, err := s.ReadChanges(ctx, from, until, 1000, h); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if rows != b.N*bulkRows {
					b.Fatalf("read %d changes in %d reads, want %d each", rows, b.N, bulkRows)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
			})
		}
	}
}
