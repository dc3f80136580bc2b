// Package tune re-runs the buffer-pool analysis that ticketstream grew from
// (docs/analysis.md says what it found) on a sample of the user's own
// tickets: their JSON size distribution, the pool-versus-no-pool sweep over
// initial capacities from 1KB to 256KB, streams of 10 to 1000 rows, and
// streams from every core at once — then recommends an initial capacity
// and a chunk threshold, with the measurements that lead to them, instead
// of a 50KB constant that fits someone else's data.
package tune

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/app/internal/knobs"
	"github.com/ticketstream/ticketstream/domain"
)

// Options set what a run measures. Zero fields take the defaults.
type Options struct {
	// Current is the configuration in effect: its initial capacity and
	// chunk threshold are measured beside the sweep's.
	Current app.Config
	// BenchTime is how long each configuration is measured (default 300ms).
	BenchTime time.Duration
	// CapacitiesKB are the initial capacities of the sweep (default the
	// analysis's 1, 4, 8, 16, 32, 50, 64, 128, 256).
	CapacitiesKB []int
	// SweepRows is the stream length of the sweep (default 100, the
	// analysis's).
	SweepRows int
	// RowCounts are the stream lengths of the row-count table (default 10, 100, 500, 1000).
	RowCounts []int
	// Progress, if set, is told before each measurement.
	Progress func(done, total int, what string)
}

func (o Options) withDefaults() (Options, error) {
	cur, err := app.NewStreamer(&sliceSource{}, o.Current) // fills and checks the defaults
	if err != nil {
		return o, err
	}
	o.Current = cur.Config()
	if o.BenchTime <= 0 {
		o.BenchTime = 300 * time.Millisecond
	}
	if len(o.CapacitiesKB) == 0 {
		o.CapacitiesKB = []int{1, 4, 8, 16, 32, 50, 64, 128, 256}
	}
	if o.SweepRows <= 0 {
		o.SweepRows = 100
	}
	if len(o.RowCounts) == 0 {
		o.RowCounts = []int{10, 100, 500, 1000}
	}
	if o.Progress == nil {
		o.Progress = func(int, int, string) {}
	}
	return o, nil
}

// SizeRow is one line of the size table: the JSON size of the first Rows tickets.
type SizeRow struct {
	Rows  int
	Bytes int
}

// SweepRow is one line of the capacity sweep: one initial capacity, with and without the pool.
type SweepRow struct {
	CapacityKB     int
	Pool, NoPool   Measurement
	Current, Chose bool // the capacity in effect; the one recommended
}

// RowsRow is one line of the row-count table: streams of Rows tickets.
type RowsRow struct {
	Rows int
	Measurement
}

// ParallelRow is one line of the parallel table: streams from every core at once.
type ParallelRow struct {
	CapacityKB int
	Label      string
	Measurement
}

// Report is the outcome of a run: the analysis's tables for this data and
// the recommendation drawn from them.
type Report struct {
	Started  time.Time
	Took     time.Duration
	Sample   Distribution
	Sizes    []SizeRow
	Current  app.Config
	Sweep    []SweepRow
	Rows     []RowsRow
	Parallel []ParallelRow
	Advice   Recommendation
	Cores    int
	Options  Options
}

// ErrNoTickets is returned for an empty sample.
var ErrNoTickets = errors.New("no tickets to measure: the sample is empty")

// Run measures sample as Options say. It takes about
// (2 × capacities + row counts + 3) × BenchTime.
func Run(ctx context.Context, sample []domain.Ticket, opts Options) (*Report, error) {
	if len(sample) == 0 {
		return nil, ErrNoTickets
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Report{Started: time.Now(), Current: opts.Current, Options: opts, Cores: runtime.GOMAXPROCS(0)}
	if r.Sample, err = measureSizes(sample); err != nil {
		return nil, err
	}
	r.Sizes = sizeTable(sample)
	r.Advice = recommend(r.Sample, opts) // capacity chosen by rule, confirmed by the sweep below

	total := 2*len(opts.CapacitiesKB) + len(opts.RowCounts) + 3
	done := 0
	run := func(what string, n int, cfg app.Config, parallel bool) (Measurement, error) {
		opts.Progress(done, total, what)
		done++
		s, err := streamer(sample, n, cfg)
		if err != nil {
			return Measurement{}, err
		}
		return measure(ctx, s, opts.BenchTime, parallel)
	}
	base := opts.Current
	for _, kb := range opts.CapacitiesKB {
		row := SweepRow{CapacityKB: kb, Current: kb*1024 == base.InitialCapacity, Chose: kb*1024 == r.Advice.InitialCapacity}
		cfg := base
		cfg.InitialCapacity, cfg.MaxPooledCapacity = kb*1024, 0
		if row.Pool, err = run(fmt.Sprintf("%d rows, %dKB buffers, pooled", opts.SweepRows, kb), opts.SweepRows, cfg, false); err != nil {
			return nil, err
		}
		knobs.NoPool(&cfg)
		if row.NoPool, err = run(fmt.Sprintf("%d rows, %dKB buffers, without pool", opts.SweepRows, kb), opts.SweepRows, cfg, false); err != nil {
			return nil, err
		}
		r.Sweep = append(r.Sweep, row)
	}
	chosen := base
	chosen.InitialCapacity, chosen.ChunkThreshold, chosen.MaxPooledCapacity = r.Advice.InitialCapacity, r.Advice.ChunkThreshold, 0
	for _, n := range opts.RowCounts {
		m, err := run(fmt.Sprintf("%d rows, recommended configuration", n), n, chosen, false)
		if err != nil {
			return nil, err
		}
		r.Rows = append(r.Rows, RowsRow{Rows: n, Measurement: m})
	}
	type config struct {
		label string
		cfg   app.Config
	}
	configs := []config{{"in effect", base}, {"recommended", chosen}, {"the analysis's alternative", withCapacity(base, 32*1024)}}
	if chosen.InitialCapacity == base.InitialCapacity && chosen.ChunkThreshold == base.ChunkThreshold {
		configs = []config{{"in effect, recommended", base}, configs[2]}
		total--
	}
	for _, p := range configs {
		m, err := run(fmt.Sprintf("%d rows on %d cores, %s", opts.SweepRows, r.Cores, p.label), opts.SweepRows, p.cfg, true)
		if err != nil {
			return nil, err
		}
		r.Parallel = append(r.Parallel, ParallelRow{CapacityKB: p.cfg.InitialCapacity / 1024, Label: p.label, Measurement: m})
	}
	opts.Progress(total, total, "done")
	r.Advice.confirm(r)
	r.Took = time.Since(r.Started)
	return r, nil
}

func withCapacity(c app.Config, capacity int) app.Config {
	c.InitialCapacity, c.MaxPooledCapacity = capacity, 0
	return c
}

// sizeTable is the size table for the sample: the JSON size of its first 1, 10, 50,
// 100, 500 and 1000 rows (as many as it has).
func sizeTable(sample []domain.Ticket) []SizeRow {
	var out []SizeRow
	buf := make([]byte, 0, 64<<10)
	for _, n := range []int{1, 10, 50, 100, 500, 1000} {
		if n > len(sample) {
			break
		}
		buf = buf[:0]
		for i := range sample[:n] {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf, _ = app.AppendTicket(buf, &sample[i])
		}
		out = append(out, SizeRow{Rows: n, Bytes: len(buf)})
	}
	if !slices.ContainsFunc(out, func(s SizeRow) bool { return s.Rows == len(sample) }) && len(sample) < 1000 {
		n := len(sample)
		buf = buf[:0]
		for i := range sample {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf, _ = app.AppendTicket(buf, &sample[i])
		}
		out = append(out, SizeRow{Rows: n, Bytes: len(buf)})
	}
	return out
}
