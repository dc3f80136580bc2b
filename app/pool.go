package app

import (
	"sync"
	"sync/atomic"

	"github.com/ticketstream/ticketstream/ports"
)

// poisonByte fills released buffers when poisoning is on, so that a reader
// that still holds one sees garbage instead of plausible JSON.
const poisonByte = 0xDB

// bufferPool lends the byte buffers that chunks are encoded into.
//
// Every lending is guarded by a generation number: whoever holds a buffer
// holds the generation it was lent under, and each hand-over (to a sink, back
// to the pool) advances it with a compare-and-swap. An operation under a stale
// generation is ignored, so a buffer can go back to the pool once per lending
// and only by its current holder. The analysis's `defer Put` of a buffer that
// was already sent cannot return it early here: after the send the producer's
// generation is stale.
type bufferPool struct {
	pool       sync.Pool
	initialCap int
	maxCap     int
	poison     bool
	noPool     bool
	stats      poolCounters
}

// PoolStats is a snapshot of what a buffer pool did since it was made. The
// fields are the signals the analysis asks operators to watch: the hit rate
// (Gets against News), reallocation frequency (Grown) and oversized buffers
// (Dropped).
type PoolStats struct {
	Gets    uint64 // buffers taken
	News    uint64 // taken buffers that had to be allocated
	Puts    uint64 // buffers given back and kept for reuse
	Grown   uint64 // reallocations: a buffer outgrew its capacity while a chunk was encoded
	Dropped uint64 // buffers given back larger than the cap, left to the GC
}

// InUse returns how many buffers were taken and not yet given back when
// the snapshot was made: held by a stream or by a sink. After every stream
// has ended and every sink has released its chunks it is 0; anything else
// is a leak.
func (s PoolStats) InUse() int64 {
	return int64(s.Gets) - int64(s.Puts) - int64(s.Dropped)
}

// poolCounters are a pool's live counters; PoolStats is their snapshot.
type poolCounters struct {
	gets, news, puts, grown, dropped atomic.Uint64
}

// snapshot reads the counters one at a time, in the order of their
// fields: a buffer taken or given back while it reads may be missing from
// the snapshot's InUse, never counted twice.
func (c *poolCounters) snapshot() PoolStats {
	return PoolStats{Gets: c.gets.Load(), News: c.news.Load(), Puts: c.puts.Load(), Grown: c.grown.Load(), Dropped: c.dropped.Load()}
}

// buffer is one pooled byte slice and the generation of its current lending.
type buffer struct {
	b    []byte
	meta []ports.RowMeta // one per row of b, for the chunk's consumer
	gen  atomic.Uint64
	pool *bufferPool
}

var _ ports.Releaser = (*buffer)(nil)

func newBufferPool(initialCap, maxCap int, poison, noPool bool) *bufferPool {
	p := &bufferPool{initialCap: initialCap, maxCap: maxCap, poison: poison, noPool: noPool}
	p.pool.New = func() any {
		p.stats.news.Add(1)
		return &buffer{b: make([]byte, 0, initialCap), pool: p}
	}
	return p
}

// get takes an empty buffer and returns it with the generation under which
// the caller holds it.
func (p *bufferPool) get() (*buffer, uint64) {
	p.stats.gets.Add(1)
	if p.noPool {
		p.stats.news.Add(1)
		return &buffer{b: make([]byte, 0, p.initialCap), pool: p}, 0
	}
	buf := p.pool.Get().(*buffer)
	buf.b, buf.meta = buf.b[:0], buf.meta[:0]
	return buf, buf.gen.Load()
}

// lend hands buf, held under gen, to a sink as a Chunk. It reports false if
// gen is stale (the caller no longer holds buf).
func (buf *buffer) lend(gen uint64) (ports.Chunk, bool) {
	if !buf.gen.CompareAndSwap(gen, gen+1) {
		return ports.Chunk{}, false
	}
	return ports.NewChunk(buf.b, buf.meta, buf, gen+1), true
}

// ReleaseChunk implements ports.Releaser: the sink that holds the chunk lent
// under token gives the buffer back.
func (buf *buffer) ReleaseChunk(token uint64) { buf.recycle(token) }

// recycle returns buf, held under gen, to the pool; a stale gen does nothing.
func (buf *buffer) recycle(gen uint64) {
	if !buf.gen.CompareAndSwap(gen, gen+1) {
		return
	}
	p := buf.pool
	if p.poison {
		full := buf.b[:cap(buf.b)]
		for i := range full {
			full[i] = poisonByte
		}
	}
	if p.noPool || cap(buf.b) > p.maxCap {
		p.stats.dropped.Add(1)
		return
	}
	p.stats.puts.Add(1)
	p.pool.Put(buf)
}
