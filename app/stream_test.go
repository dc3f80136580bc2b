package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// newTestStreamer returns a Streamer over src that poisons released buffers.
func newTestStreamer(t *testing.T, src ports.TicketSource, cfg Config) *Streamer {
	t.Helper()
	cfg.poisonReleased = true
	s, err := NewStreamer(src, cfg)
	if err != nil {
		t.Fatalf("NewStreamer: %v", err)
	}
	return s
}

// expectJoined returns what a stream of tickets must deliver: each row as
// json.Marshal encodes it, joined by delim, in (updated_at, id) order.
func expectJoined(t *testing.T, tickets []domain.Ticket, delim ports.Delimiter) []byte {
	t.Helper()
	var out []byte
	for i, tk := range portstest.SortedTickets(tickets) {
		if i > 0 {
			out = append(out, byte(delim))
		}
		b, err := json.Marshal(tk)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// assertNoBuffersInUse fails t if a pooled buffer was neither handed on nor
// given back.
func assertNoBuffersInUse(t *testing.T, s *Streamer) {
	t.Helper()
	if n := s.PoolStats().InUse(); n != 0 {
		t.Fatalf("%d pooled buffers still in use after the stream", n)
	}
}

func TestStream_DeliversEveryRowInOrderInBoundedChunks(t *testing.T) {
	t.Parallel()
	rows := demodata.New(11).Tickets(2500)
	maxRow := 0
	for i := range rows {
		b, _ := json.Marshal(rows[i])
		maxRow = max(maxRow, len(b))
	}
	tests := []struct {
		name      string
		rows      int
		threshold int
		batch     int
		delim     ports.Delimiter
	}{
		{"one row", 1, 0, 0, ports.Comma},
		{"just under one chunk", 80, 0, 0, ports.Comma},
		{"just over one chunk", 90, 0, 0, ports.Comma},
		{"analysis batch", 1000, 0, 0, ports.Comma},
		{"many batches", 2500, 0, 100, ports.Comma},
		{"ndjson", 1000, 0, 0, ports.Newline},
		{"tiny threshold: a chunk per row", 50, 1, 0, ports.Comma},
		{"small threshold, batches of 7", 2500, 4096, 7, ports.Newline},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tickets := rows[:tc.rows]
			s := newTestStreamer(t, &portstest.Source{Tickets: tickets}, Config{ChunkThreshold: tc.threshold, BatchSize: tc.batch})
			sink := &portstest.Sink{}
			sum, err := s.Stream(context.Background(), domain.Query{}, tc.delim, sink)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if got, want := sink.Joined(tc.delim), expectJoined(t, tickets, tc.delim); !bytes.Equal(got, want) {
				t.Fatalf("joined chunks differ from the rows' encodings (got %d bytes, want %d)", len(got), len(want))
			}
			threshold := s.Config().ChunkThreshold
			sorted := portstest.SortedTickets(tickets)
			seen := 0
			var total int64
			chunks := sink.Chunks()
			for i, c := range chunks {
				if c.Seq != i {
					t.Fatalf("chunk %d has Seq %d", i, c.Seq)
				}
				if len(c.Data) > threshold+maxRow+1 {
					t.Fatalf("chunk %d is %d bytes, more than threshold %d + one row %d", i, len(c.Data), threshold, maxRow)
				}
				if i < len(chunks)-1 && len(c.Data) <= threshold {
					t.Fatalf("chunk %d (%d bytes) was sent before passing the threshold %d", i, len(c.Data), threshold)
				}
				if tc.delim == ports.Comma {
					var parsed []json.RawMessage
					if err := json.Unmarshal(append(append([]byte("["), c.Data...), ']'), &parsed); err != nil {
						t.Fatalf("chunk %d is not a run of whole rows: %v", i, err)
					}
					if len(parsed) != c.Rows {
						t.Fatalf("chunk %d holds %d rows, says %d", i, len(parsed), c.Rows)
					}
				} else if n := bytes.Count(c.Data, []byte{'\n'}) + 1; n != c.Rows {
					t.Fatalf("chunk %d holds %d lines, says %d rows", i, n, c.Rows)
				}
				seen += c.Rows
				total += int64(len(c.Data))
				if want := sorted[seen-1].Cursor(); c.Last != want {
					t.Fatalf("chunk %d Last = %v, want the cursor of its last row %v", i, c.Last, want)
				}
			}
			want := Summary{Rows: tc.rows, Bytes: total, Chunks: len(chunks), Last: sorted[len(sorted)-1].Cursor()}
			if sum != want {
				t.Fatalf("summary = %+v, want %+v", sum, want)
			}
			assertNoBuffersInUse(t, s)
		})
	}
}

func TestStream_EmptySourceSendsNothing(t *testing.T) {
	t.Parallel()
	s := newTestStreamer(t, &portstest.Source{}, Config{})
	sink := &portstest.Sink{}
	sum, err := s.Stream(context.Background(), domain.Query{}, ports.Comma, sink)
	if err != nil || sum != (Summary{}) || sink.Writes() != 0 {
		t.Fatalf("Stream = %+v, %v with %d writes; want an empty summary, no error, no writes", sum, err, sink.Writes())
	}
	assertNoBuffersInUse(t, s)
}

func TestStream_PassesTheQueryToTheSource(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(3).Tickets(500)
	q := domain.Query{Statuses: []domain.Status{domain.StatusOpen}, Teams: []string{"billing"}, Limit: 20}
	src := &portstest.Source{Tickets: tickets}
	s := newTestStreamer(t, src, Config{})
	sink := &portstest.Sink{}
	sum, err := s.Stream(context.Background(), q, ports.Comma, sink)
	if err != nil {
		t.Fatal(err)
	}
	want := portstest.Select(tickets, q)
	if sum.Rows != len(want) || !bytes.Equal(sink.Joined(ports.Comma), expectJoined(t, want, ports.Comma)) {
		t.Fatalf("streamed %d rows, want the %d the query selects", sum.Rows, len(want))
	}
	if got := src.LastQuery(); got.Limit != 20 || len(got.Teams) != 1 {
		t.Fatalf("source saw query %+v", got)
	}
}

func TestStream_Failures(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tickets := demodata.New(5).Tickets(3000)
	tests := []struct {
		name      string
		src       *portstest.Source
		sink      *portstest.Sink
		wantErr   error
		wantRows  int // rows delivered before the failure
		wantWrite int // WriteChunk calls
	}{
		{"source fails before the first row", &portstest.Source{Tickets: tickets, Err: boom}, &portstest.Sink{}, boom, 0, 0},
		{"source fails mid-stream", &portstest.Source{Tickets: tickets, Err: boom, FailAfter: 250}, &portstest.Sink{}, boom, -1, 2},
		{"sink fails on the first chunk", &portstest.Source{Tickets: tickets}, &portstest.Sink{Err: boom}, boom, 0, 1},
		{"sink fails on the third chunk", &portstest.Source{Tickets: tickets}, &portstest.Sink{Err: boom, FailAfter: 2}, boom, -1, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestStreamer(t, tc.src, Config{})
			sum, err := s.Stream(context.Background(), domain.Query{}, ports.Comma, tc.sink)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want it to wrap %v", err, tc.wantErr)
			}
			if tc.wantRows >= 0 && sum.Rows != tc.wantRows {
				t.Fatalf("summary says %d rows delivered, want %d", sum.Rows, tc.wantRows)
			}
			if got := tc.sink.Writes(); got != tc.wantWrite {
				t.Fatalf("%d writes, want %d: a failed stream must stop at once", got, tc.wantWrite)
			}
			sorted := portstest.SortedTickets(tickets)
			if sum.Rows != 0 && sum.Last != sorted[sum.Rows-1].Cursor() {
				t.Fatalf("summary cursor %v is not that of the last delivered row", sum.Last)
			}
			if tc.sink.Err == nil && !bytes.Equal(tc.sink.Joined(ports.Comma), expectJoined(t, sorted[:sum.Rows], ports.Comma)) {
				t.Fatal("the chunks delivered before the failure are not the first rows, whole")
			}
			assertNoBuffersInUse(t, s)
		})
	}
}

func TestStream_CancellationMidStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  *portstest.Source
		sink *portstest.Sink
	}{
		{"slow sink", &portstest.Source{Tickets: demodata.New(1).Tickets(5000)}, &portstest.Sink{Delay: 20 * time.Millisecond}},
		{"slow source", &portstest.Source{Tickets: demodata.New(1).Tickets(5000), BatchDelay: 20 * time.Millisecond}, &portstest.Sink{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestStreamer(t, tc.src, Config{BatchSize: 100})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
			defer cancel()
			sum, err := s.Stream(ctx, domain.Query{}, ports.Comma, tc.sink)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want it to wrap context.DeadlineExceeded", err)
			}
			if sum.Rows >= 5000 {
				t.Fatalf("stream ran to the end (%d rows) despite the cancel", sum.Rows)
			}
			assertNoBuffersInUse(t, s)
		})
	}
	t.Run("cancelled before the start", func(t *testing.T) {
		t.Parallel()
		src := &portstest.Source{Tickets: demodata.New(1).Tickets(10)}
		s := newTestStreamer(t, src, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Stream(ctx, domain.Query{}, ports.Comma, &portstest.Sink{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if src.Calls() != 0 {
			t.Fatal("the source was queried for a stream that was already cancelled")
		}
	})
}

func TestStream_HugeRows(t *testing.T) {
	t.Parallel()
	huge := demodata.New(9).Tickets(3)
	for i := range huge { // keep the huge row in the middle of the stable order
		huge[i].UpdatedAt = demodata.Epoch.Add(time.Duration(i) * time.Second)
	}
	huge[1].Subject = strings.Repeat("a 100KB subject ", 100*1024/16)
	tests := []struct {
		name        string
		cfg         Config
		wantDropped uint64
	}{
		{"grows and is pooled under the 4x cap", Config{}, 0},
		{"grows past the cap and is dropped", Config{InitialCapacity: 8 * 1024, ChunkThreshold: 4 * 1024}, 1},
		{"grows past an explicit cap and is dropped", Config{MaxPooledCapacity: 64 * 1024}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestStreamer(t, &portstest.Source{Tickets: huge}, tc.cfg)
			sink := &portstest.Sink{}
			if _, err := s.Stream(context.Background(), domain.Query{}, ports.Comma, sink); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sink.Joined(ports.Comma), expectJoined(t, huge, ports.Comma)) {
				t.Fatal("rows around a 100KB row came out wrong")
			}
			// The huge row ends the chunk it lands in (a chunk is at most the
			// threshold plus one row): [small, huge] then [small].
			chunks := sink.Chunks()
			if len(chunks) != 2 || chunks[0].Rows != 2 || chunks[1].Rows != 1 {
				t.Fatalf("got %d chunks %+v, want rows [2 1]", len(chunks), chunks)
			}
			st := s.PoolStats()
			if st.Grown == 0 {
				t.Fatal("a 100KB row did not count as a reallocation")
			}
			if got := st.Dropped; got != tc.wantDropped {
				t.Fatalf("dropped %d buffers, want %d", got, tc.wantDropped)
			}
			assertNoBuffersInUse(t, s)
		})
	}
}

func TestStream_ReleasedBufferIsReusedByALaterChunk(t *testing.T) {
	t.Parallel()
	s := newTestStreamer(t, &portstest.Source{Tickets: demodata.New(2).Tickets(3000)}, Config{})
	var mu sync.Mutex
	seen := map[*byte]int{}
	sink := ports.ChunkSinkFunc(func(_ context.Context, c ports.Chunk) error {
		mu.Lock()
		seen[unsafe.SliceData(c.Bytes())]++
		mu.Unlock()
		c.Release()
		return nil
	})
	sum, err := s.Stream(context.Background(), domain.Query{}, ports.Comma, sink)
	if err != nil {
		t.Fatal(err)
	}
	// sync.Pool may drop items at random under -race, so ask for one reuse,
	// not for every chunk to share one buffer.
	if len(seen) >= sum.Chunks {
		t.Fatalf("%d chunks used %d distinct buffers: released buffers are not reused", sum.Chunks, len(seen))
	}
	if st := s.PoolStats(); st.News >= st.Gets {
		t.Fatalf("pool allocated %d buffers for %d gets", st.News, st.Gets)
	}
}

// TestStream_SinkOwnsChunksUntilRelease runs the scenario that corrupted
// 34–69 of 1,600 chunks with the analysis's usage: 8 concurrent producers ×
// 200 chunks, a sink that keeps each chunk a while and then checks its bytes.
// Released buffers are poisoned, so any early return to the pool shows.
func TestStream_SinkOwnsChunksUntilRelease(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(4).Tickets(200 * 82)
	s := newTestStreamer(t, &portstest.Source{Tickets: tickets}, Config{})
	sink := &portstest.Sink{HoldFor: 2 * time.Millisecond}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := s.Stream(context.Background(), domain.Query{}, ports.Comma, sink); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	sink.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := sink.Corrupted(); n != 0 {
		t.Fatalf("%d of %d chunks changed while the sink held them", n, sink.Writes())
	}
	if sink.Writes() < 8*190 {
		t.Fatalf("only %d chunks written", sink.Writes())
	}
	assertNoBuffersInUse(t, s)
}

// analysisStream is the analysis's usage pattern (§5), kept to show that the
// ownership test catches it: the first buffer is Put by a defer although it
// was already handed to the consumer.
func analysisStream(pool *sync.Pool, tickets []domain.Ticket, sink ports.ChunkSink) {
	jsonBuf := pool.Get().(*[]byte)
	*jsonBuf = (*jsonBuf)[:0]
	defer func(buf *[]byte) { // defer jsonBufferPool.Put(jsonBuf), poisoning as our pool does in tests
		full := (*buf)[:cap(*buf)]
		for i := range full {
			full[i] = poisonByte
		}
		pool.Put(buf)
	}(jsonBuf)
	for _, tk := range tickets {
		jsonData, _ := json.Marshal(tk)
		*jsonBuf = append(*jsonBuf, jsonData...)
		if len(*jsonBuf) > DefaultChunkThreshold {
			_ = sink.WriteChunk(context.Background(), ports.NewChunk(*jsonBuf, nil, nil, 0))
			jsonBuf = pool.Get().(*[]byte)
			*jsonBuf = (*jsonBuf)[:0]
		}
	}
}

// heldChunks keeps every chunk it receives, with a copy of its bytes taken
// on receipt, and checks them later from the same goroutine: a race-free
// way to see a buffer that went back to the pool while still held.
type heldChunks struct {
	chunks []ports.Chunk
	copies [][]byte
}

func (h *heldChunks) WriteChunk(_ context.Context, c ports.Chunk) error {
	h.chunks = append(h.chunks, c)
	h.copies = append(h.copies, bytes.Clone(c.Bytes()))
	return nil
}

func (h *heldChunks) corrupted() int {
	n := 0
	for i, c := range h.chunks {
		if !bytes.Equal(c.Bytes(), h.copies[i]) {
			n++
		}
	}
	return n
}

func TestOwnershipCheck_CatchesTheAnalysisPattern(t *testing.T) {
	t.Parallel()
	pool := &sync.Pool{New: func() any { b := make([]byte, 0, DefaultInitialCapacity); return &b }}
	sink := &heldChunks{}
	analysisStream(pool, demodata.New(4).Tickets(200), sink)
	if sink.corrupted() == 0 {
		t.Fatal("the ownership check did not notice a buffer returned to the pool while the sink held it")
	}

	// Our loop, the same scenario: the sink still holds every chunk after
	// the stream returned, and none has changed.
	s := newTestStreamer(t, &portstest.Source{Tickets: demodata.New(4).Tickets(200)}, Config{})
	ours := &heldChunks{}
	if _, err := s.Stream(context.Background(), domain.Query{}, ports.Comma, ours); err != nil {
		t.Fatal(err)
	}
	if n := ours.corrupted(); n != 0 {
		t.Fatalf("%d chunks changed while the sink held them", n)
	}
	for _, c := range ours.chunks {
		c.Release()
	}
	assertNoBuffersInUse(t, s)
}

func TestPool_ReturnUnderAStaleGenerationIsIgnored(t *testing.T) {
	t.Parallel()
	p := newBufferPool(1024, 4096, true, false)
	buf, gen := p.get()
	buf.b = append(buf.b, "row"...)
	chunk, ok := buf.lend(gen)
	if !ok {
		t.Fatal("lend failed")
	}
	buf.recycle(gen) // the analysis's deferred Put, after the hand-over
	if got := string(chunk.Bytes()); got != "row" || p.stats.puts.Load() != 0 {
		t.Fatalf("a stale return put the buffer back (puts=%d, bytes %q)", p.stats.puts.Load(), got)
	}
	if _, ok := buf.lend(gen); ok {
		t.Fatal("a buffer was lent twice under one generation")
	}
	copyOfChunk := chunk
	chunk.Release()
	copyOfChunk.Release()
	chunk.Release()
	if got := p.stats.puts.Load(); got != 1 {
		t.Fatalf("three releases of one chunk put the buffer back %d times, want 1", got)
	}
	if p.stats.snapshot().InUse() != 0 {
		t.Fatalf("InUse = %d after release", p.stats.snapshot().InUse())
	}
}

func TestNewStreamer_RefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg   Config
		param string
	}{
		{Config{InitialCapacity: -1}, "initial-capacity"},
		{Config{ChunkThreshold: -5}, "chunk-threshold"},
		{Config{BatchSize: -1}, "batch-size"},
		{Config{InitialCapacity: 4096, MaxPooledCapacity: 1024}, "max-pooled-capacity"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.cfg), func(t *testing.T) {
			_, err := NewStreamer(&portstest.Source{}, tc.cfg)
			var derr *domain.Error
			if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != tc.param {
				t.Fatalf("err = %v, want EInvalid naming %q", err, tc.param)
			}
		})
	}
}
