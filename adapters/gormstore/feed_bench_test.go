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
// only subjects (no departure: each change costs an empty probe of
// ticket_departures), "team-moved" moves every ticket to another team (one
// departure each, reported in Change.LeftTeams). Its baseline is the
// same-team read: the ratio is what departures cost when there are some.
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
				got, until := portstest.WaitChanges(b, s, from, 1000, bulkRows)
				left := 0
				for _, c := range got {
					left += len(c.LeftTeams)
				}
				if bc.name == "team-moved" && left != bulkRows {
					b.Fatalf("a bulk team change reported %d teams left, want %d", left, bulkRows)
				}
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
