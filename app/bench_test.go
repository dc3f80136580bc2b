package app

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// The benchmarks below reproduce every table of the analysis
// (docs/analysis.md) on our code, with the analysis's
// own method measured in the same run as the baseline. Sub-benchmarks named
// .../analysis run that method; .../ours runs Streamer.Stream and reports
// x-faster, the baseline's ns/op divided by ours. TestMain prints the tables.
//
//	go test -run '^$' -bench . -benchmem ./app

// benchTickets are realistic tickets of about 393 bytes of JSON each, like the
// analysis's data, in the stable order and with their strings laid out in
// that order, as a database driver leaves a freshly scanned batch (sorting
// alone would leave each row's strings scattered over the heap).
var benchTickets = inScanOrder(portstest.SortedTickets(demodata.New(1).Tickets(1000)))

func inScanOrder(tickets []domain.Ticket) []domain.Ticket {
	for i := range tickets {
		t := &tickets[i]
		t.Team, t.Subject, t.Requester, t.Assignee = strings.Clone(t.Team), strings.Clone(t.Subject), strings.Clone(t.Requester), strings.Clone(t.Assignee)
		for j := range t.Tags {
			t.Tags[j] = strings.Clone(t.Tags[j])
		}
	}
	return tickets
}

// benchSource returns a fake source of the first n bench tickets, warmed up
// so that its one-time sort is not measured.
func benchSource(n int) *portstest.Source {
	src := &portstest.Source{Tickets: benchTickets[:n]}
	_ = src.StreamTickets(context.Background(), domain.Query{}, 0, ports.BatchHandlerFunc(func([]domain.Ticket) error { return nil }))
	return src
}

// discardSink releases every chunk at once: a consumer that costs nothing.
var discardSink = ports.ChunkSinkFunc(func(_ context.Context, c ports.Chunk) error {
	c.Release()
	return nil
})

// analysisMethod is the analysis's service loop (§5), reproduced as it is:
// json.Marshal per row appended into a buffer from a sync.Pool, the buffer
// sent on once it passes 32KB and a new one taken, and a deferred Put of the
// first buffer, which had already been sent (the ownership bug). Rows are
// joined by commas so that its output equals ours byte for byte.
type analysisMethod struct {
	src      ports.TicketSource
	pool     *sync.Pool // nil: without pool, a fresh buffer per chunk
	capacity int
}

func newAnalysisMethod(src ports.TicketSource, capacity int, pooled bool) *analysisMethod {
	a := &analysisMethod{src: src, capacity: capacity}
	if pooled {
		a.pool = &sync.Pool{New: func() any {
			buf := make([]byte, 0, capacity)
			return &buf
		}}
	}
	return a
}

func (a *analysisMethod) get() *[]byte {
	if a.pool == nil {
		buf := make([]byte, 0, a.capacity)
		return &buf
	}
	jsonBuf := a.pool.Get().(*[]byte)
	*jsonBuf = (*jsonBuf)[:0]
	return jsonBuf
}

func (a *analysisMethod) stream(ctx context.Context, consume func(chunk *[]byte)) error {
	jsonBuf := a.get()
	if a.pool != nil {
		defer a.pool.Put(jsonBuf)
	}
	err := a.src.StreamTickets(ctx, domain.Query{}, DefaultBatchSize, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
		for _, row := range batch {
			jsonData, err := json.Marshal(row)
			if err != nil {
				return err
			}
			if len(*jsonBuf) > 0 {
				*jsonBuf = append(*jsonBuf, ',')
			}
			*jsonBuf = append(*jsonBuf, jsonData...)
			if len(*jsonBuf) > DefaultChunkThreshold {
				consume(jsonBuf)
				jsonBuf = a.get()
			}
		}
		return nil
	}))
	if err == nil && len(*jsonBuf) > 0 {
		consume(jsonBuf)
	}
	return err
}

func discardBuf(*[]byte) {}

// benchResult is one benchmark's outcome as TestMain's tables need it.
type benchResult struct {
	nsPerOp, bytesPerOp, allocsPerOp float64
	rows                             int
	extra                            map[string]float64
}

var (
	benchMu      sync.Mutex
	benchResults = map[string]benchResult{}
)

// record stores b's outcome and reports ns/row; an .../ours benchmark also
// reports x-faster against its .../analysis sibling from this run.
func record(b *testing.B, rows int, m0, m1 *runtime.MemStats) benchResult {
	n := float64(b.N)
	r := benchResult{
		nsPerOp:     float64(b.Elapsed().Nanoseconds()) / n,
		bytesPerOp:  float64(m1.TotalAlloc-m0.TotalAlloc) / n,
		allocsPerOp: float64(m1.Mallocs-m0.Mallocs) / n,
		rows:        rows,
	}
	if rows > 0 {
		b.ReportMetric(r.nsPerOp/float64(rows), "ns/row")
	}
	benchMu.Lock()
	defer benchMu.Unlock()
	if base, ok := benchResults[strings.TrimSuffix(b.Name(), "/ours")+"/analysis"]; ok && strings.HasSuffix(b.Name(), "/ours") {
		b.ReportMetric(base.nsPerOp/r.nsPerOp, "x-faster")
	}
	benchResults[b.Name()] = r
	return r
}

// measure runs op in b's loop and records it.
func measure(b *testing.B, rows int, op func() error) {
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&m1)
	record(b, rows, &m0, &m1)
}

// methods runs the analysis's method and ours on n rows with one buffer
// capacity, as sibling sub-benchmarks.
func methods(b *testing.B, n, capacity int, pooled bool) {
	src := benchSource(n)
	ctx := context.Background()
	b.Run("analysis", func(b *testing.B) {
		a := newAnalysisMethod(src, capacity, pooled)
		measure(b, n, func() error { return a.stream(ctx, discardBuf) })
	})
	b.Run("ours", func(b *testing.B) {
		s, err := NewStreamer(src, Config{InitialCapacity: capacity, noPool: !pooled})
		if err != nil {
			b.Fatal(err)
		}
		measure(b, n, func() error {
			_, err := s.Stream(ctx, domain.Query{}, ports.Comma, discardSink)
			return err
		})
	})
}

var sizeRows = []int{1, 10, 50, 100, 500, 1000}

// BenchmarkJSONSize reproduces the analysis's §2: the JSON size of 1 to 1000
// rows (json-B, and B/row), encoded by our encoder.
func BenchmarkJSONSize(b *testing.B) {
	for _, n := range sizeRows {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			buf := make([]byte, 0, DefaultInitialCapacity)
			measure(b, n, func() error {
				buf = buf[:0]
				for i := range benchTickets[:n] {
					if i > 0 {
						buf = append(buf, ',')
					}
					buf, _ = AppendTicket(buf, &benchTickets[i])
				}
				return nil
			})
			b.ReportMetric(float64(len(buf)), "json-B")
			b.ReportMetric(float64(len(buf))/float64(n), "B/row")
			benchMu.Lock()
			r := benchResults[b.Name()]
			r.extra = map[string]float64{"json-B": float64(len(buf))}
			benchResults[b.Name()] = r
			benchMu.Unlock()
		})
	}
}

var capacities = []int{1, 4, 8, 16, 32, 50, 64, 128, 256} // KB

// BenchmarkPoolVsNoPool reproduces §3.1: 100 rows with initial buffer
// capacities from 1KB to 256KB, with and without the pool.
func BenchmarkPoolVsNoPool(b *testing.B) {
	for _, kb := range capacities {
		for _, mode := range []string{"pool", "nopool"} {
			b.Run(fmt.Sprintf("cap=%dKB/%s", kb, mode), func(b *testing.B) {
				methods(b, 100, kb*1024, mode == "pool")
			})
		}
	}
}

var streamRows = []int{10, 100, 500, 1000}

// BenchmarkRows reproduces §3.2: 10 to 1000 rows with 50KB pooled buffers.
func BenchmarkRows(b *testing.B) {
	for _, n := range streamRows {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			methods(b, n, DefaultInitialCapacity, true)
		})
	}
}

// BenchmarkParallel reproduces §3.3: 100-row streams from every core at once,
// with 50KB and 32KB pooled buffers.
func BenchmarkParallel(b *testing.B) {
	for _, kb := range []int{50, 32} {
		b.Run(fmt.Sprintf("cap=%dKB", kb), func(b *testing.B) {
			src := benchSource(100)
			ctx := context.Background()
			parallel := func(b *testing.B, op func() error) {
				b.ReportAllocs()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := op(); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				runtime.ReadMemStats(&m1)
				record(b, 100, &m0, &m1)
			}
			b.Run("analysis", func(b *testing.B) {
				a := newAnalysisMethod(src, kb*1024, true)
				parallel(b, func() error { return a.stream(ctx, discardBuf) })
			})
			b.Run("ours", func(b *testing.B) {
				s, err := NewStreamer(src, Config{InitialCapacity: kb * 1024})
				if err != nil {
					b.Fatal(err)
				}
				parallel(b, func() error {
					_, err := s.Stream(ctx, domain.Query{}, ports.Comma, discardSink)
					return err
				})
			})
		})
	}
}

// BenchmarkPoolGetPut reproduces §3.4: the cost of taking a buffer and giving
// it back, for our generation-guarded pool, a bare sync.Pool, and a fresh
// 50KB allocation.
func BenchmarkPoolGetPut(b *testing.B) {
	b.Run("ours", func(b *testing.B) {
		p := newBufferPool(DefaultInitialCapacity, 4*DefaultInitialCapacity, false, false)
		measure(b, 0, func() error {
			buf, gen := p.get()
			c, _ := buf.lend(gen)
			c.Release()
			return nil
		})
	})
	b.Run("sync.Pool", func(b *testing.B) {
		p := sync.Pool{New: func() any { buf := make([]byte, 0, DefaultInitialCapacity); return &buf }}
		measure(b, 0, func() error {
			buf := p.Get().(*[]byte)
			*buf = (*buf)[:0]
			p.Put(buf)
			return nil
		})
	})
	b.Run("make-50KB", func(b *testing.B) {
		var sink []byte
		measure(b, 0, func() error {
			sink = make([]byte, 0, DefaultInitialCapacity)
			return nil
		})
		_ = sink
	})
}

// TestAnalysisMethod_ProducesOurBytes keeps the baseline honest: it must do
// the same work, so its output must equal ours.
func TestAnalysisMethod_ProducesOurBytes(t *testing.T) {
	src := benchSource(1000)
	var want []byte
	a := newAnalysisMethod(src, DefaultInitialCapacity, false)
	err := a.stream(context.Background(), func(c *[]byte) {
		if len(want) > 0 {
			want = append(want, ',')
		}
		want = append(want, *c...)
	})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStreamer(t, src, Config{})
	sink := &portstest.Sink{}
	if _, err := s.Stream(context.Background(), domain.Query{}, ports.Comma, sink); err != nil {
		t.Fatal(err)
	}
	if got := sink.Joined(ports.Comma); string(got) != string(want) {
		t.Fatalf("the analysis's method and ours disagree (%d vs %d bytes)", len(want), len(got))
	}
}

// TestStream_AllocatesNothingInSteadyState is the 0 allocs/op target as a
// test: a warmed-up stream of 1000 rows allocates nothing.
func TestStream_AllocatesNothingInSteadyState(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in the full run")
	}
	s, err := NewStreamer(benchSource(1000), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := s.Stream(ctx, domain.Query{}, ports.Comma, discardSink); err != nil {
			t.Fatal(err)
		}
	})
	// sync.Pool drops items at random under -race; allow for that there.
	if allocs > raceAllocSlack {
		t.Fatalf("a 1000-row stream allocated %.1f times, want 0", allocs)
	}
}
