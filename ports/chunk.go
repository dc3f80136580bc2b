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
	meta  []RowMeta
	owner Releaser
	token uint64
}

// RowMeta says where one ticket of a Chunk lies in its bytes, and how a
// dashboard counts it, so that a consumer can leave rows out or count them
// without parsing the JSON.
type RowMeta struct {
	// ID is the ticket's id.
	ID int64
	// End is the offset just past the row's last byte in Bytes; the row
	// begins after the previous row's End and its delimiter (or at 0).
	End int32
	// TeamStart and TeamEnd delimit the ticket's team name in Bytes, as
	// encoded in JSON (escapes kept), without its quotes.
	TeamStart, TeamEnd int32
	// Status is the ticket's status as its index in domain.Statuses.
	Status uint8
}

// Releaser takes back the buffer of a Chunk. The core's buffer pool
// implements it; token identifies one lending of the buffer, so a release
// with a stale token is ignored.
type Releaser interface {
	ReleaseChunk(token uint64)
}

// NewChunk wraps data, lent by owner under token, as a Chunk. Only buffer
// pools call it; owner may be nil for data that needs no release. meta, if
// not nil, describes every row of data, in order, and is owned like data.
func NewChunk(data []byte, meta []RowMeta, owner Releaser, token uint64) Chunk {
	return Chunk{data: data, meta: meta, owner: owner, token: token}
}

// Bytes returns the chunk's encoded rows. The slice is valid until Release.
func (c Chunk) Bytes() []byte { return c.data }

// Meta describes the chunk's rows, one RowMeta each in order, or is nil
// when the producer recorded none. Valid until Release, like Bytes.
func (c Chunk) Meta() []RowMeta { return c.meta }

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
