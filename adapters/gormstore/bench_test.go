package gormstore_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
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
// the limit), a reader that takes only raw bytes (as one query and in
// 1000-row keyset queries: the cost of keyset batching itself) and gorm's two
// usual ways; "of-raw-pgx" is each one's rows/s as a share of raw pgx's. BenchmarkStreamMemory reports the peak live heap while
// streaming 10,000 and 1,000,000 rows.

const benchRows = 200_000

// seededPostgres returns a migrated store holding n demo tickets.
func seededPostgres(b testing.TB, n int) *gormstore.Store {
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
	conn := adminConnB(b, dbName)
	const columns = "id, team, subject, status, priority, requester, assignee, tags, created_at, updated_at"

	rawPgx := func() (int64, error) {
		r, err := conn.Query(ctx, "SELECT "+columns+" FROM tickets ORDER BY updated_at, id")
		if err != nil {
			return 0, err
		}
		var rows int64
		var t domain.Ticket
		for r.Next() {
			if err := r.Scan(&t.ID, &t.Team, &t.Subject, (*string)(&t.Status), (*string)(&t.Priority), &t.Requester, &t.Assignee, &t.Tags, &t.CreatedAt, &t.UpdatedAt); err != nil {
				return rows, err
			}
			rows++
		}
		return rows, r.Err()
	}
	// rawBytes only takes each row's raw bytes: as one query (limit 0) or in
	// keyset queries of limit rows, it measures what keyset batching costs.
	rawBytes := func(limit int) func() (int64, error) {
		return func() (int64, error) {
			var rows int64
			at, id := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), int64(0)
			for {
				var r pgx.Rows
				var err error
				if limit == 0 {
					r, err = conn.Query(ctx, "SELECT "+columns+" FROM tickets ORDER BY updated_at, id")
				} else {
					r, err = conn.Query(ctx, "SELECT "+columns+" FROM tickets WHERE (updated_at, id) > ($1, $2) ORDER BY updated_at, id LIMIT $3", at, id, limit)
				}
				if err != nil {
					return rows, err
				}
				n := 0
				for r.Next() {
					v := r.RawValues()
					id = int64(binary.BigEndian.Uint64(v[0]))
					at = time.UnixMicro(int64(binary.BigEndian.Uint64(v[9])) + gormstore.PgEpochMicros).UTC()
					n++
				}
				if r.Err() != nil {
					return rows, r.Err()
				}
				rows += int64(n)
				if limit == 0 || n < limit {
					return rows, nil
				}
			}
		}
	}
	ours := func() (int64, error) {
		var rows int64
		err := s.StreamTickets(ctx, domain.Query{}, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error { rows += int64(len(batch)); return nil }))
		return rows, err
	}
	// gormTicket is how a plain gorm user would map the table; pgx's type
	// map scans the text[] column through database/sql.
	type gormTicket struct {
		ID                                                   int64
		Team, Subject, Status, Priority, Requester, Assignee string
		Tags                                                 sqlTags
		CreatedAt, UpdatedAt                                 time.Time
	}
	gormRows := func() (int64, error) {
		r, err := s.Gorm().WithContext(ctx).Table("tickets").Select(columns).Order("updated_at, id").Rows()
		if err != nil {
			return 0, err
		}
		defer r.Close()
		var rows int64
		var t gormTicket
		for r.Next() {
			if err := r.Scan(&t.ID, &t.Team, &t.Subject, &t.Status, &t.Priority, &t.Requester, &t.Assignee, &t.Tags, &t.CreatedAt, &t.UpdatedAt); err != nil {
				return rows, err
			}
			rows++
		}
		return rows, r.Err()
	}
	gormBatches := func() (int64, error) {
		var rows int64
		var batch []gormTicket
		res := s.Gorm().WithContext(ctx).Table("tickets").Select(columns).
			FindInBatches(&batch, 1000, func(*gorm.DB, int) error { rows += int64(len(batch)); return nil })
		return rows, res.Error
	}

	readers := []struct {
		name string
		run  func() (int64, error)
	}{
		{"raw-pgx", rawPgx},
		{"raw-bytes-one-query", rawBytes(0)},
		{"raw-bytes-keyset-1000", rawBytes(1000)},
		{"gormstore", ours},
		{"gorm-Rows-Scan", gormRows},
		{"gorm-FindInBatches", gormBatches},
	}
	took := make([][]time.Duration, len(readers))
	round := 0
	for b.Loop() {
		for i := range readers {
			k := (i + round) % len(readers) // rotate, so no reader always runs first
			start := time.Now()
			rows, err := readers[k].run()
			if err != nil {
				b.Fatalf("%s: %v", readers[k].name, err)
			}
			if rows != benchRows {
				b.Fatalf("%s read %d rows, want %d", readers[k].name, rows, benchRows)
			}
			took[k] = append(took[k], time.Since(start))
		}
		round++
	}
	rate := func(k int) float64 {
		d := slices.Clone(took[k])
		slices.Sort(d)
		return benchRows / d[len(d)/2].Seconds()
	}
	raw := rate(0)
	fmt.Printf("\n%d interleaved rounds of %d tickets; medians:\n| Reader | rows/s | share of raw pgx |\n|---|---:|---:|\n", round, benchRows)
	for k, r := range readers {
		fmt.Printf("| %s | %.0f | %.1f%% |\n", r.name, rate(k), 100*rate(k)/raw)
	}
	b.ReportMetric(rate(3), "gormstore-rows/s")
	b.ReportMetric(100*rate(3)/raw, "gormstore-%-of-raw-pgx")
}

// sqlTags lets gorm scan the text[] column, as a gorm user would have to.
type sqlTags []string

var benchTypeMap = pgtype.NewMap()

func (t *sqlTags) Scan(src any) error { return benchTypeMap.SQLScanner((*[]string)(t)).Scan(src) }

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

// GormDataType tells gorm's schema parser the column type of sqlTags.
func (sqlTags) GormDataType() string { return "text[]" }
