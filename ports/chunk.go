package ports

import (
	"context"

	"github.com/ticketstream/ticketstream/domain"
)

// Delimiter separates the encoded rows inside a Chunk, and a ChunkSink writes
// it between chunks when it joins them into one document.
type Delimiter byte

// The delimiters the core supports.
const (
	// Comma joins rows as the elements of a JSON array.
	Comma Delimiter = ','
	// Newline joins rows as NDJSON lines.
	Newline Delimiter = '\n'
)

// Chunk is a run of complete JSON-encoded tickets, joined by the stream's
// Delimiter, with no delimiter before the first row or after the last. It
// never splits a row. Its bytes live in a pooled buffer owned by whoever
// holds the Chunk:
//
//   - The core writes the buffer, then hands the Chunk to exactly one
//     ChunkSink.WriteChunk call and never touches it again.
//   - From the moment WriteChunk is called the sink owns the Chunk: it may
//     read Bytes (never write them) until it calls Release, and it must call
//     Release exactly once, whether the write succeeded or not, and possibly
//     later from another goroutine (a queued write).
//   - Release returns the buffer to the pool for the next chunk. Bytes must
//     not be used after it; keep a copy if the data must outlive the Chunk.
//
// A second Release of the same Chunk (or of a copy of it) is a no-op, so a
// stale copy can never give away a buffer that is already in use again.
type Chunk struct {
	// Seq numbers the chunks of one stream from 0.
	Seq int
	// Rows is how many tickets the chunk holds (at least 1).
	Rows int
	// Last is the position of the chunk's last ticket: a stream resumed from
	// it continues with the first ticket of the next chunk.
	Last domain.Cursor

	data  []byte
	owner Releaser
	token uint64
}

// Releaser takes back the buffer of a Chunk. The core's buffer pool
// implements it; token identifies one lending of the buffer, so a release
// with a stale token is ignored.
type Releaser interface {
	ReleaseChunk(token uint64)
}

// NewChunk wraps data, lent by owner under token, as a Chunk. Only buffer
// pools call it; owner may be nil for data that needs no release.
func NewChunk(data []byte, owner Releaser, token uint64) Chunk {
	return Chunk{data: data, owner: owner, token: token}
}

// Bytes returns the chunk's encoded rows. The slice is valid until Release.
func (c Chunk) Bytes() []byte { return c.data }

// Len returns the length of Bytes.
func (c Chunk) Len() int { return len(c.data) }

// Release gives the chunk's buffer back to its pool. See Chunk for the rules.
func (c Chunk) Release() {
	if c.owner != nil {
		c.owner.ReleaseChunk(c.token)
	}
}

// ChunkSink delivers chunks to one consumer: a WebSocket connection, an HTTP
// response, a file.
type ChunkSink interface {
	// WriteChunk delivers c (or queues it) and takes ownership of it: the
	// sink must Release c exactly once, also when it returns an error. It
	// returns an error wrapping ctx.Err() if ctx ends first. The core calls
	// WriteChunk from one goroutine at a time per stream.
	WriteChunk(ctx context.Context, c Chunk) error
}

// ChunkSinkFunc adapts a function to ChunkSink.
type ChunkSinkFunc func(ctx context.Context, c Chunk) error

// WriteChunk calls f(ctx, c).
func (f ChunkSinkFunc) WriteChunk(ctx context.Context, c Chunk) error { return f(ctx, c) }
