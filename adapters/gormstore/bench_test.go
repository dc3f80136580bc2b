package gormstore_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"gorm.io/gorm"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// Run with:
//
//	go test -run '^$' -bench . -benchtime 5x ./adapters/gormstore
//
// BenchmarkSource streams 200,000 tickets from the local PostgreSQL through
// our adapter and, in the same run, through raw pgx (pgx.Conn.Query + Scan,
// the limit) and gorm's two usual ways; "of-raw-pgx" is each one's rows/s as
// a share of raw pgx's. BenchmarkStreamMemory reports the peak live heap while
// streaming 10,000 and 1,000,000 rows.

const benchRows = 200_000

// seededPostgres returns a migrated store holding n demo tickets.
func seededPostgres(b *testing.B, n int) *gormstore.Store {
	b.Helper()
	s := openStore(b, gormstore.Postgres, nil, gormstore.Config{})
	gen := demodata.New(1)
	for left := n; left > 0; {
		k := min(left, 50_000)
		if err := s.InsertTickets(context.Background(), gen.Tickets(k)); err != nil {
			b.Fatal(err)
		}
		left -= k
	}
	if err := s.Gorm().Exec("VACUUM ANALYZE tickets").Error; err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkSource(b *testing.B) {
	s := seededPostgres(b, benchRows)
	ctx := context.Background()
	var dbName string
	if err := s.Gorm().Raw("SELECT current_database()").Scan(&dbName).Error; err != nil {
		b.Fatal(err)
	}
	var rawRate float64
	report := func(b *testing.B, rows int64) float64 {
		rate := float64(rows) / b.Elapsed().Seconds()
		b.ReportMetric(rate, "rows/s")
		if rawRate > 0 {
			b.ReportMetric(100*rate/rawRate, "%-of-raw-pgx")
		}
		return rate
	}

	b.Run("raw-pgx", func(b *testing.B) {
		conn := adminConnB(b, dbName)
		var rows int64
		for b.Loop() {
			r, err := conn.Query(ctx, "SELECT id, team, subject, status, priority, requester, assignee, tags, created_at, updated_at FROM tickets ORDER BY updated_at, id")
			if err != nil {
				b.Fatal(err)
			}
			var t domain.Ticket
			for r.Next() {
				if err := r.Scan(&t.ID, &t.Team, &t.Subject, (*string)(&t.Status), (*string)(&t.Priority), &t.Requester, &t.Assignee, &t.Tags, &t.CreatedAt, &t.UpdatedAt); err != nil {
					b.Fatal(err)
				}
				rows++
			}
			if r.Err() != nil {
				b.Fatal(r.Err())
			}
		}
		rawRate = report(b, rows)
	})

	b.Run("gormstore", func(b *testing.B) {
		var rows int64
		count := ports.BatchHandlerFunc(func(batch []domain.Ticket) error { rows += int64(len(batch)); return nil })
		for b.Loop() {
			if err := s.StreamTickets(ctx, domain.Query{}, 0, count); err != nil {
				b.Fatal(err)
			}
		}
		if rows != int64(b.N)*benchRows {
			b.Fatalf("streamed %d rows, want %d", rows, int64(b.N)*benchRows)
		}
		report(b, rows)
	})

	// gormTicket is how a plain gorm user would map the table; pgx's type map
	// scans the text[] column through database/sql.
	type gormTicket struct {
		ID                                                   int64
		Team, Subject, Status, Priority, Requester, Assignee string
		Tags                                                 []string `gorm:"-"`
		CreatedAt, UpdatedAt                                 time.Time
	}
	typeMap := pgtype.NewMap()
	b.Run("gorm-Rows-Scan", func(b *testing.B) {
		var rows int64
		for b.Loop() {
			r, err := s.Gorm().WithContext(ctx).Table("tickets").Select(gormColumns).Order("updated_at, id").Rows()
			if err != nil {
				b.Fatal(err)
			}
			var t gormTicket
			for r.Next() {
				if err := r.Scan(&t.ID, &t.Team, &t.Subject, &t.Status, &t.Priority, &t.Requester, &t.Assignee, typeMap.SQLScanner(&t.Tags), &t.CreatedAt, &t.UpdatedAt); err != nil {
					b.Fatal(err)
				}
				rows++
			}
			r.Close()
		}
		report(b, rows)
	})

	b.Run("gorm-FindInBatches", func(b *testing.B) {
		type row struct {
			ID                                                   int64
			Team, Subject, Status, Priority, Requester, Assignee string
			Tags                                                 sqlTags
			CreatedAt, UpdatedAt                                 time.Time
		}
		var rows int64
		for b.Loop() {
			var batch []row
			res := s.Gorm().WithContext(ctx).Table("tickets").Select(gormColumns).
				FindInBatches(&batch, 1000, func(*gorm.DB, int) error { rows += int64(len(batch)); return nil })
			if res.Error != nil {
				b.Fatal(res.Error)
			}
		}
		report(b, rows)
	})
}

// sqlTags lets gorm scan the text[] column, as a gorm user would have to.
type sqlTags []string

var benchTypeMap = pgtype.NewMap()

func (t *sqlTags) Scan(src any) error { return benchTypeMap.SQLScanner((*[]string)(t)).Scan(src) }

const gormColumns = "id, team, subject, status, priority, requester, assignee, tags, created_at, updated_at"

func adminConnB(b *testing.B, database string) *pgx.Conn {
	b.Helper()
	cfg, err := pgx.ParseConfig(pgtestAdminURL())
	if err != nil {
		b.Fatal(err)
	}
	cfg.Database = database
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// BenchmarkStreamMemory streams every row once per iteration and reports the
// peak of the live heap (sampled every 5ms through runtime/metrics) beside
// the row count: flat memory means the same peak for 10,000 and 1,000,000.
func BenchmarkStreamMemory(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			s := seededPostgres(b, n)
			runtime.GC()
			peak := sampleHeap()
			var rows atomic.Int64
			for b.Loop() {
				err := s.StreamTickets(context.Background(), domain.Query{}, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
					rows.Add(int64(len(batch)))
					return nil
				}))
				if err != nil {
					b.Fatal(err)
				}
			}
			mb := peak.stop()
			b.ReportMetric(mb, "peak-heap-MB")
			b.ReportMetric(float64(rows.Load())/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

type heapSampler struct {
	stop func() float64
}

func sampleHeap() heapSampler {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			mu.Lock()
			peak = max(peak, samples[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return heapSampler{stop: func() float64 {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return float64(peak) / (1 << 20)
	}}
}
