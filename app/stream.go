package app

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// Config sets the streaming loop's sizes. The zero value of a field means its
// default; DefaultConfig spells them out.
type Config struct {
	// InitialCapacity is the capacity of a new pooled buffer: 50KB, so that
	// a chunk of 32KB plus the row that passes the threshold fits without
	// reallocating.
	InitialCapacity int
	// ChunkThreshold: a buffer is handed on as a chunk as soon as it holds
	// more than this many bytes: 32KB, about 80 tickets.
	ChunkThreshold int
	// BatchSize is how many tickets are read from the source at a time.
	BatchSize int
	// MaxPooledCapacity: a buffer that grew beyond this (a huge row) is left
	// to the garbage collector instead of being pooled. Default 4 × the
	// larger of InitialCapacity and ChunkThreshold, so that an ordinary chunk
	// that outgrew a small initial capacity is still reused.
	MaxPooledCapacity int

	// poisonReleased overwrites every buffer given back to the pool, so that
	// a reader that kept one sees garbage. For tests (see package apptest):
	// it costs a memset.
	poisonReleased bool
	// noPool gives every chunk a freshly allocated buffer and pools none:
	// the analysis's "without pool" column, for measuring what the pool
	// saves (package tune).
	noPool bool
}

// The defaults of Config.
const (
	DefaultInitialCapacity = 50 * 1024
	DefaultChunkThreshold  = 32 * 1024
	DefaultBatchSize       = ports.DefaultBatchSize
)

// DefaultConfig returns the analysis's configuration: 50KB buffers, 32KB
// chunks, 1000-row batches, buffers over 200KB not pooled.
func DefaultConfig() Config {
	return Config{
		InitialCapacity:   DefaultInitialCapacity,
		ChunkThreshold:    DefaultChunkThreshold,
		BatchSize:         DefaultBatchSize,
		MaxPooledCapacity: 4 * DefaultInitialCapacity,
	}
}

// Limits of Config beyond which a setting is refused as impossible: a
// buffer or a batch that large would exhaust memory rather than serve.
const (
	MaxBufferBytes = 64 << 20
	MaxBatchSize   = 100_000
)

// Validate reports a setting no Streamer can use, naming it: the one rule
// of every configuration here is that zero means the default and a
// negative value is an error. InitialCapacity and ChunkThreshold are at
// most MaxBufferBytes, BatchSize at most MaxBatchSize, and a
// MaxPooledCapacity that is set is at least the initial capacity.
func (c Config) Validate() error {
	for _, f := range []struct {
		v, limit int
		param    string
	}{{c.InitialCapacity, MaxBufferBytes, "initial-capacity"}, {c.ChunkThreshold, MaxBufferBytes, "chunk-threshold"}, {c.BatchSize, MaxBatchSize, "batch-size"}} {
		if f.v < 0 || f.v > f.limit {
			return domain.Invalidf(f.param, "must be 0 (the default) or between 1 and %d, got %d", f.limit, f.v)
		}
	}
	initial := c.InitialCapacity
	if initial == 0 {
		initial = DefaultInitialCapacity
	}
	if c.MaxPooledCapacity != 0 && c.MaxPooledCapacity < initial {
		return domain.Invalidf("max-pooled-capacity", "must be 0 (the default) or at least the initial capacity %d, got %d", initial, c.MaxPooledCapacity)
	}
	return nil
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	d := DefaultConfig()
	if c.InitialCapacity == 0 {
		c.InitialCapacity = d.InitialCapacity
	}
	if c.ChunkThreshold == 0 {
		c.ChunkThreshold = d.ChunkThreshold
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.MaxPooledCapacity == 0 {
		c.MaxPooledCapacity = 4 * max(c.InitialCapacity, c.ChunkThreshold)
	}
	return c, nil
}

// Summary describes a finished (or failed) stream: what reached the sink.
type Summary struct {
	Rows   int           // tickets delivered
	Bytes  int64         // bytes of the delivered chunks
	Chunks int           // chunks delivered
	Last   domain.Cursor // position of the last delivered ticket; resume from here
	// LastKey is, in a sorted stream (a Query with a Sort), the key of the
	// last delivered ticket: a sorted page resumes after it.
	LastKey domain.RowKey
}

// Streamer runs the core loop: tickets from a source, encoded into pooled
// buffers, out to a sink in chunks. One Streamer serves any number of
// concurrent streams; its pool is shared by all of them.
type Streamer struct {
	src    ports.TicketSource
	cfg    Config
	pool   *bufferPool
	states sync.Pool // *streamState, so that a stream allocates nothing
	obs    StreamObserver
}

// NewStreamer returns a Streamer reading from src with cfg (zero fields take
// their defaults). It returns an EInvalid error for a negative setting.
func NewStreamer(src ports.TicketSource, cfg Config) (*Streamer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("streamer config: %w", err)
	}
	s := &Streamer{src: src, cfg: cfg, pool: newBufferPool(cfg.InitialCapacity, cfg.MaxPooledCapacity, cfg.poisonReleased, cfg.noPool)}
	s.states.New = func() any { return &streamState{s: s} }
	return s, nil
}

// Config returns the configuration in effect, defaults filled in.
func (s *Streamer) Config() Config { return s.cfg }

// Source returns the source the streamer reads: a live window reads its
// rows from it too.
func (s *Streamer) Source() ports.TicketSource { return s.src }

// PoolStats returns a snapshot of the counters of the Streamer's buffer pool.
func (s *Streamer) PoolStats() PoolStats { return s.pool.stats.snapshot() }

// Stream sends every ticket of q to sink as chunks of complete rows joined by
// delim, each chunk handed on as soon as it passes the chunk threshold, and
// returns what was delivered. A chunk is at most ChunkThreshold bytes plus
// one row (and one delimiter); joining all chunks with delim gives exactly
// the encodings of all rows, in order, joined by delim.
//
// Stream runs in the caller's goroutine and starts none. It returns the first
// error of the source, the encoder or the sink, wrapped; if ctx ends it
// returns an error wrapping ctx.Err(). In every case each buffer has either
// been handed to the sink or gone back to the pool.
func (s *Streamer) Stream(ctx context.Context, q domain.Query, delim ports.Delimiter, sink ports.ChunkSink) (Summary, error) {
	if err := ctx.Err(); err != nil {
		return Summary{}, fmt.Errorf("stream tickets: %w", err)
	}
	st := s.states.Get().(*streamState)
	st.ctx, st.sink, st.delim, st.sorted = ctx, sink, byte(delim), len(q.Sort) > 0
	err := s.src.StreamTickets(ctx, q, s.cfg.BatchSize, st)
	if err == nil {
		err = st.flush()
	}
	if st.buf != nil { // unsent rows after an error: nobody else holds the buffer
		st.buf.recycle(st.gen)
	}
	sum := st.sum
	*st = streamState{s: s}
	s.states.Put(st)
	if s.obs != nil {
		s.obs.StreamDone(sum)
	}
	if err != nil {
		return sum, fmt.Errorf("stream tickets: %w", err)
	}
	return sum, nil
}

// streamState is one stream's progress; it implements ports.BatchHandler.
type streamState struct {
	s     *Streamer
	ctx   context.Context
	sink  ports.ChunkSink
	delim byte

	buf       *buffer // the buffer being filled, nil between chunks
	gen       uint64  // the generation under which this stream holds buf
	chunkRows int
	chunkLast domain.Cursor
	sum       Summary
	// sorted: the stream has a Sort, and chunkLastKey is kept.
	sorted       bool
	chunkLastKey domain.RowKey
}

var _ ports.BatchHandler = (*streamState)(nil)

// HandleBatch encodes each ticket after the last, handing the buffer on
// whenever it passes the threshold.
func (st *streamState) HandleBatch(batch []domain.Ticket) error {
	if err := st.ctx.Err(); err != nil {
		return err
	}
	threshold := st.s.cfg.ChunkThreshold
	for i := range batch {
		t := &batch[i]
		if st.buf == nil {
			st.buf, st.gen = st.s.pool.get()
		}
		b := st.buf.b
		before := cap(b)
		if st.chunkRows > 0 {
			b = append(b, st.delim)
		}
		rowStart := len(b)
		b, teamEnd, err := appendTicket(b, t)
		if err != nil {
			return err
		}
		if cap(b) != before {
			st.s.pool.stats.grown.Add(1)
		}
		st.buf.b = b
		st.buf.meta = append(st.buf.meta, ports.RowMeta{ID: t.ID, End: int32(len(b)), TeamStart: int32(rowStart + teamOffset(t.ID)), TeamEnd: int32(teamEnd), Status: statusNumber(t.Status)})
		st.chunkRows++
		st.chunkLast = t.Cursor()
		if st.sorted {
			st.chunkLastKey = domain.KeyOf(t)
		}
		if len(b) > threshold {
			if err := st.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// errStaleBuffer would mean the loop lost track of its own buffer: a bug.
var errStaleBuffer = errors.New("internal: chunk buffer lent twice")

// flush hands the current buffer, if it holds rows, to the sink. From the
// call on the buffer is the sink's; the stream forgets it before writing.
func (st *streamState) flush() error {
	if st.buf == nil || st.chunkRows == 0 {
		return nil
	}
	chunk, ok := st.buf.lend(st.gen)
	st.buf = nil
	if !ok {
		return errStaleBuffer
	}
	chunk.Seq, chunk.Rows, chunk.Last = st.sum.Chunks, st.chunkRows, st.chunkLast
	st.chunkRows = 0
	if err := st.sink.WriteChunk(st.ctx, chunk); err != nil {
		return fmt.Errorf("write chunk %d: %w", chunk.Seq, err)
	}
	n := chunk.Len()
	st.sum.Chunks++
	st.sum.Rows += chunk.Rows
	st.sum.Bytes += int64(n)
	st.sum.Last = chunk.Last
	if st.sorted {
		st.sum.LastKey = st.chunkLastKey
	}
	if o := st.s.obs; o != nil {
		o.ChunkSent(n, chunk.Rows)
	}
	return nil
}
