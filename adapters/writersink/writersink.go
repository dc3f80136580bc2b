// Package writersink is a ports.ChunkSink over an io.Writer: the core's
// chunks written to a file or a pipe as NDJSON or as one JSON array, with
// each chunk's bytes written once, never re-encoded.
package writersink

import (
	"context"
	"fmt"
	"io"

	"github.com/ticketstream/ticketstream/ports"
)

// Format is how the rows are framed.
type Format string

// The formats a Sink writes.
const (
	// NDJSON writes one ticket per line.
	NDJSON Format = "ndjson"
	// JSONArray writes one JSON array of tickets.
	JSONArray Format = "json"
)

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case NDJSON, JSONArray:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown format %q (want ndjson or json)", s)
}

// Delimiter returns the delimiter the core must join rows with for f.
func (f Format) Delimiter() ports.Delimiter {
	if f == NDJSON {
		return ports.Newline
	}
	return ports.Comma
}

// Sink writes chunks to W. Call Close after the stream to finish the
// document (the closing bracket of a JSON array, the last newline).
// It is not safe for concurrent use; the core writes from one goroutine.
type Sink struct {
	w      io.Writer
	format Format
	chunks int
}

var _ ports.ChunkSink = (*Sink)(nil)

// New returns a Sink writing format to w.
func New(w io.Writer, format Format) *Sink { return &Sink{w: w, format: format} }

// WriteChunk implements ports.ChunkSink: it writes the delimiter that joins
// c to the chunk before, then c's bytes, and releases c.
func (s *Sink) WriteChunk(ctx context.Context, c ports.Chunk) error {
	defer c.Release()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write chunk: %w", err)
	}
	var sep []byte
	switch {
	case s.format == JSONArray && s.chunks == 0:
		sep = []byte{'['}
	case s.format == JSONArray:
		sep = []byte{','}
	case s.chunks > 0:
		sep = []byte{'\n'}
	}
	if len(sep) > 0 {
		if _, err := s.w.Write(sep); err != nil {
			return fmt.Errorf("write chunk: %w", err)
		}
	}
	if _, err := s.w.Write(c.Bytes()); err != nil {
		return fmt.Errorf("write chunk: %w", err)
	}
	s.chunks++
	return nil
}

// Close ends the document: "]" (or "[]" for no rows) for a JSON array, a
// final newline for NDJSON with rows. It does not close W.
func (s *Sink) Close() error {
	var end string
	switch {
	case s.format == JSONArray && s.chunks == 0:
		end = "[]\n"
	case s.format == JSONArray:
		end = "]\n"
	case s.chunks > 0:
		end = "\n"
	}
	if _, err := io.WriteString(s.w, end); err != nil {
		return fmt.Errorf("finish output: %w", err)
	}
	return nil
}
