package tune

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// Measurement is what one configuration cost per operation (one stream).
type Measurement struct {
	NsPerOp     float64
	BytesPerOp  float64 // allocated
	AllocsPerOp float64
	GrownPerOp  float64 // buffers that outgrew their capacity (reallocations)
	Ops         int
}

// sliceSource serves rows, repeated up to n, in batches: a TicketSource
// over the sample, so that the sweep measures the core and not the
// database.
type sliceSource struct {
	rows []domain.Ticket
	n    int
}

func (s *sliceSource) StreamTickets(ctx context.Context, _ domain.Query, batchSize int, h ports.BatchHandler) error {
	for done := 0; done < s.n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(batchSize, s.n-done, len(s.rows))
		start := done % len(s.rows)
		k = min(k, len(s.rows)-start)
		if err := h.HandleBatch(s.rows[start : start+k]); err != nil {
			return err
		}
		done += k
	}
	return nil
}

var discard = ports.ChunkSinkFunc(func(_ context.Context, c ports.Chunk) error {
	c.Release()
	return nil
})

// streamer returns a Streamer over rows (repeated to n) with cfg.
func streamer(rows []domain.Ticket, n int, cfg app.Config) (*app.Streamer, error) {
	return app.NewStreamer(&sliceSource{rows: rows, n: n}, cfg)
}

// measure streams through s for about d — from every core at once when
// parallel — after one warm-up stream, and returns the cost per stream.
func measure(ctx context.Context, s *app.Streamer, d time.Duration, parallel bool) (Measurement, error) {
	op := func() error {
		_, err := s.Stream(ctx, domain.Query{}, ports.Comma, discard)
		return err
	}
	if err := op(); err != nil {
		return Measurement{}, err
	}
	workers := 1
	if parallel {
		workers = runtime.GOMAXPROCS(0)
	}
	grown0 := s.PoolStats().Grown
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start := time.Now()
	deadline := start.Add(d)
	var (
		mu   sync.Mutex
		ops  int
		ferr error
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			n := 0
			// At least one operation each, however late the worker starts:
			// a measurement of nothing would report nothing.
			for (n == 0 || time.Now().Before(deadline)) && ctx.Err() == nil {
				if err := op(); err != nil {
					mu.Lock()
					ferr = err
					mu.Unlock()
					return
				}
				n++
			}
			mu.Lock()
			ops += n
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&m1)
	if ferr != nil {
		return Measurement{}, ferr
	}
	if err := ctx.Err(); err != nil {
		return Measurement{}, err
	}
	n := float64(max(ops, 1))
	return Measurement{
		// Like testing.B.RunParallel: wall time per operation of all workers together.
		NsPerOp:     float64(elapsed.Nanoseconds()) / n,
		BytesPerOp:  float64(m1.TotalAlloc-m0.TotalAlloc) / n,
		AllocsPerOp: float64(m1.Mallocs-m0.Mallocs) / n,
		GrownPerOp:  float64(s.PoolStats().Grown-grown0) / n,
		Ops:         ops,
	}, nil
}
