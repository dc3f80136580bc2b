package gormstore_test

import (
	"context"
	"fmt"
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

// BenchmarkFeedRead is one read of the PostgreSQL change feed as the hub
// makes it — to a snapshot of its own, from a position that lacks rows
// tickets, each changed by its own transaction — so that a read's fixed
// cost (its round trip and statements) and each row's can be told apart:
//
//	go test -run '^$' -bench FeedRead -benchtime 2000x -count 3 ./adapters/gormstore
func BenchmarkFeedRead(b *testing.B) {
	s := seededPostgres(b, 10_000)
	ctx := context.Background()
	var empty float64 // ns of the read that found nothing
	for _, rows := range []int{0, 1, 10, 100} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			from, err := s.Horizon(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for id := 1; id <= rows; id++ {
				if err := s.Gorm().Exec(`UPDATE tickets SET subject = subject || '.' WHERE id = ?`, id).Error; err != nil {
					b.Fatal(err)
				}
			}
			read := 0
			h := ports.ChangeHandlerFunc(func(batch []ports.Change) error { read += len(batch); return nil })
			// The first read prepares the statements: a poll finds them
			// prepared.
			if _, err := s.ReadChanges(ctx, from, domain.ChangePos{}, 1000, h); err != nil {
				b.Fatal(err)
			}
			read = 0
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := s.ReadChanges(ctx, from, domain.ChangePos{}, 1000, h); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if read != b.N*rows {
				b.Fatalf("read %d changes in %d reads, want %d each", read, b.N, rows)
			}
			perRead := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if rows == 0 {
				empty = perRead
			} else if empty > 0 {
				b.ReportMetric(perRead/empty, "vs-empty")
				b.ReportMetric((perRead-empty)/float64(rows), "ns/row-beyond-empty")
			}
		})
	}
}
