package gormstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// Run with:
//
//	go test -run '^$' -bench SQLite -count 5 ./adapters/gormstore
//
// BenchmarkSQLiteSeed and BenchmarkSQLiteSnapshot measure what the SQLite
// driver decides: how fast InsertTickets fills a fresh file (prepared
// multi-row INSERTs, as `ticketstream seed` does) and how fast StreamTickets
// reads every row back (keyset batches of 1000). They compare drivers, or
// driver versions, when run on both sides of a change in the same session.
const sqliteBenchRows = 50_000

func BenchmarkSQLiteSeed(b *testing.B) {
	tickets := demodata.New(7).Tickets(sqliteBenchRows)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, closeStore, err := gormstore.Open(ctx, gormstore.Config{
			URL: "sqlite:" + filepath.Join(b.TempDir(), "seed.db"), Migrate: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for rest := tickets; len(rest) > 0; {
			n := min(len(rest), 10_000)
			if err := s.InsertTickets(ctx, rest[:n]); err != nil {
				b.Fatal(err)
			}
			rest = rest[n:]
		}
		b.StopTimer()
		closeStore()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*sqliteBenchRows)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkSQLiteSnapshot(b *testing.B) {
	s := openStore(b, gormstore.SQLite, demodata.New(7).Tickets(sqliteBenchRows), gormstore.Config{})
	ctx := context.Background()
	var rows int
	h := ports.BatchHandlerFunc(func(batch []domain.Ticket) error { rows += len(batch); return nil })
	b.ReportAllocs()
	for b.Loop() {
		if err := s.StreamTickets(ctx, domain.Query{}, 1000, h); err != nil {
			b.Fatal(err)
		}
	}
	if rows != b.N*sqliteBenchRows {
		b.Fatalf("read %d rows in %d streams, want %d each", rows, b.N, sqliteBenchRows)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
}
