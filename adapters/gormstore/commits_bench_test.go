package gormstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/app/apptest"
)

// BenchmarkWriterCommits measures what the change feed costs the programs
// that write tickets: commits per second of 8 concurrent writers (one-row
// UPDATEs, each its own transaction) with the feed off (its triggers
// disabled, nobody reading), on (triggers, and an app.Hub reading the feed
// as a server does: these writers keep it at the busy pace, a read every
// 20 ms, each finding many changes), on with reads twice as often (every
// 10 ms, what each read costs the writers), the triggers
// alone with nobody reading, and — the design this one avoids — on with a NOTIFY in
// every writing transaction and a listener, which PostgreSQL serialises at
// commit; and on with the search index (migrate --search-index on), which
// every UPDATE maintains. The writers do not wait for the WAL flush
// (synchronous_commit off): this machine's disk would otherwise cap all of
// them at about 90 commits/s. Each run starts from a freshly vacuumed
// table; each variant runs between two feed-off runs, in rounds, and its
// median rate is reported, and the median of its ratios to the mean of
// the feed-off runs beside it:
//
//	go test -run '^$' -bench WriterCommits -benchtime 1x ./adapters/gormstore
func BenchmarkWriterCommits(b *testing.B) {
	s := seededPostgres(b, 10_000)
	ctx := context.Background()
	url := s.Target()
	admin := func(sql string) {
		if err := s.Gorm().Exec(sql).Error; err != nil {
			b.Fatal(err)
		}
	}
	admin(`CREATE OR REPLACE FUNCTION bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('tickets', ''); RETURN NULL; END $$`)
	searchIndex := func(on bool) {
		if err := s.SetSearchIndex(ctx, on); err != nil {
			b.Fatal(err)
		}
	}
	// feedOn enables the feed's triggers alone.
	feedOn := func() {
		searchIndex(false)
		admin(`DROP TRIGGER IF EXISTS bench_notify ON tickets`)
		admin(`ALTER TABLE tickets ENABLE TRIGGER USER`)
	}
	variants := []struct {
		name     string
		setup    func()
		poll     bool
		busyPace time.Duration // 0: the hub's own
	}{
		{"feed-off", func() {
			searchIndex(false)
			admin(`DROP TRIGGER IF EXISTS bench_notify ON tickets`)
			admin(`ALTER TABLE tickets DISABLE TRIGGER USER`)
		}, false, 0},
		{"feed-on", feedOn, true, 0},
		// The same, read twice as often while writers are busy.
		{"feed-on-busy-10ms", feedOn, true, 10 * time.Millisecond},
		// The triggers alone, nobody reading: what stamping every change
		// costs, the floor of the feed's cost to writers.
		{"triggers-only", feedOn, false, 0},
		{"notify-per-commit", func() {
			searchIndex(false)
			admin(`ALTER TABLE tickets ENABLE TRIGGER USER`)
			admin(`CREATE OR REPLACE TRIGGER bench_notify AFTER UPDATE ON tickets FOR EACH STATEMENT EXECUTE FUNCTION bench_notify()`)
		}, true, 0},
		// The search index (ticketstream migrate --search-index on): what
		// every write pays for fast rare searches.
		{"feed-on-search-index", func() {
			admin(`DROP TRIGGER IF EXISTS bench_notify ON tickets`)
			admin(`ALTER TABLE tickets ENABLE TRIGGER USER`)
			searchIndex(true)
		}, true, 0},
	}
	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN tickets"); err != nil {
		b.Fatal(err)
	}
	const writers, rounds, roundFor = 8, 9, 2 * time.Second
	conns := make([]*pgx.Conn, writers)
	for i := range conns {
		if conns[i], err = pgx.Connect(ctx, url); err != nil {
			b.Fatal(err)
		}
		defer conns[i].Close(ctx)
		// This machine's disk flushes about a hundred times a second, which
		// would cap every variant alike; without waiting for the flush the
		// writers are bound by CPU and locks, as on fast storage — where a
		// lock taken at every commit shows.
		if _, err := conns[i].Exec(ctx, "SET synchronous_commit = off"); err != nil {
			b.Fatal(err)
		}
	}
	// Autovacuum would land in one run or another and cost it a large
	// share: every run starts instead from a table vacuumed just before.
	admin(`ALTER TABLE tickets SET (autovacuum_enabled = off)`)
	defer admin(`ALTER TABLE tickets RESET (autovacuum_enabled)`)
	run := func(v int, round int) float64 {
		variants[v].setup()
		admin(`VACUUM tickets`)
		return commitRate(b, s, conns, listener, variants[v].poll, variants[v].busyPace, roundFor, round)
	}
	// Each variant runs between two feed-off runs, and its ratio is to
	// their mean: the machine's speed drifts from run to run (other jobs,
	// a VM's stolen time) far more than within one.
	rates := map[string][]float64{}
	ratios := map[string][]float64{}
	for range b.N {
		for round := range rounds {
			off := run(0, round)
			rates["feed-off"] = append(rates["feed-off"], off)
			for v := 1; v < len(variants); v++ {
				rate := run(v, round)
				next := run(0, round)
				rates["feed-off"] = append(rates["feed-off"], next)
				rates[variants[v].name] = append(rates[variants[v].name], rate)
				ratios[variants[v].name] = append(ratios[variants[v].name], rate/((off+next)/2))
				off = next
			}
		}
	}
	ratios["feed-off"] = []float64{1}
	for _, v := range variants {
		r := ratios[v.name]
		m := median(rates[v.name])
		b.ReportMetric(m, v.name+"-commits/s")
		b.ReportMetric(median(r), v.name+"-vs-off")
		b.Logf("%-20s %6.0f commits/s (median of %d runs of %s, 8 writers, synchronous_commit off): %.2f× the feed-off rate (median of each run's ratio to the feed-off runs beside it; %.2f–%.2f)",
			v.name, m, len(rates[v.name]), roundFor, median(r), slices.Min(r), slices.Max(r))
	}
	admin(`DROP TRIGGER IF EXISTS bench_notify ON tickets`)
	admin(`ALTER TABLE tickets ENABLE TRIGGER USER`)
}

// commitRate runs the writers for d and returns their commits per second,
// with an app.Hub reading the feed if poll (every busyPace while the
// writers keep it busy; 0: the hub's own pace), and listener draining
// notifications.
func commitRate(b *testing.B, s *gormstore.Store, conns []*pgx.Conn, listener *pgx.Conn, poll bool, busyPace, d time.Duration, seed int) float64 {
	// The writers stop between statements: a statement cancelled by a
	// deadline would close its connection (pgx's default).
	var stop atomic.Bool
	var commits atomic.Int64
	var wg sync.WaitGroup
	bg := context.Background()
	for i, c := range conns {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
			for !stop.Load() {
				_, err := c.Exec(bg, `UPDATE tickets SET subject = $1, updated_at = clock_timestamp() WHERE id = $2`,
					fmt.Sprintf("bench %d", rng.Uint32()), 1+rng.IntN(10_000))
				if err != nil {
					b.Errorf("writer: %v", err)
					return
				}
				commits.Add(1)
			}
		})
	}
	wg.Go(func() { // the listener keeps the notification queue drained
		for !stop.Load() {
			ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
			_, err := listener.WaitForNotification(ctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				b.Errorf("listener: %v", err)
				return
			}
		}
	})
	if poll { // a hub with no dashboards reads the feed as a server does
		h, err := app.NewHub(s, apptest.WithBusyPace(app.HubConfig{}, busyPace), nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		wg.Go(func() { _ = h.Run(ctx) })
		wg.Go(func() {
			for !stop.Load() {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
		})
	}
	start := time.Now()
	time.Sleep(d)
	stop.Store(true)
	n := commits.Load()
	elapsed := time.Since(start)
	wg.Wait()
	return float64(n) / elapsed.Seconds()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
