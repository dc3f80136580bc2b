package restapi

import (
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/labstack/echo/v4"
)

// Compression is done here, in the response's sink, rather than by a
// middleware wrapping the ResponseWriter:
//   - echo's middleware.Gzip matches "gzip" anywhere in Accept-Encoding
//     (so "gzip;q=0" still gets gzip), offers no zstd, uses the standard
//     library's slower gzip, and its Flush drops the flush error that tells
//     the sink a client went away.
//   - klauspost's gzhttp fits more closely (zstd, q-values, FlushError,
//     Unwrap for ResponseController), but it decides per response from
//     the first bytes it buffers and their content type, allocates its
//     wrapper and that buffer per response, and closes the encoder in a
//     wrapper around the whole handler.
//
// The sink already writes each pooled chunk once, under the chunk's own
// write deadline, and flushes it: with the encoder in the sink, each chunk
// is one Write and one encoder Flush before the transport's flush, so the
// first rows still arrive at once; the encoder is closed by the sink before
// the handler returns, so the compressed stream ends before net/http sends
// the NDJSON trailers; and the encoder goes back to its pool on every path,
// a client that left included.

// The levels are the fast ends of each format: a stream is produced at
// database speed, and a slower level would make the compressor, not the
// link, the bottleneck for a client near the server (BenchmarkPage_Codings
// measures bytes and time per page for each).
const (
	gzipLevel = gzip.BestSpeed
	zstdLevel = zstd.SpeedFastest
	// zstdWindow bounds the memory of a pooled zstd encoder; ticket JSON
	// repeats itself within a few rows, so a longer window buys little.
	zstdWindow = 128 << 10
)

// minCompressBytes is the smallest whole body (a ticket, the OpenAPI
// document) that is compressed. A smaller one fits one TCP segment either
// way, so compressing it saves no round trip while costing an encoder
// from the pool; error and health answers are smaller still and never
// compressed. A ticket list is always compressed when the client accepts
// it: its size is unknown until it ends.
const minCompressBytes = 1400

// encoder is a pooled compressor: gzip.Writer and zstd.Encoder alike.
type encoder interface {
	io.Writer
	// Flush writes out what was written so far, in a block a decoder can
	// read without what follows.
	Flush() error
	// Close ends the compressed stream; the encoder may then be Reset.
	Close() error
	Reset(w io.Writer)
}

var (
	gzipEncoders = sync.Pool{New: func() any {
		w, err := gzip.NewWriterLevel(io.Discard, gzipLevel)
		if err != nil {
			panic(fmt.Sprintf("gzip level %d: %v", gzipLevel, err)) // a constant: fails every test if wrong
		}
		return w
	}}
	zstdEncoders = sync.Pool{New: func() any {
		// Concurrency 1 compresses on the caller's goroutine: no goroutines
		// per encoder, and Write and Flush are done when they return.
		e, err := zstd.NewWriter(io.Discard, zstd.WithEncoderLevel(zstdLevel), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(zstdWindow), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(fmt.Sprintf("zstd encoder: %v", err)) // constant options: fails every test if wrong
		}
		return e
	}}
)

// takeEncoder returns a pooled encoder of coding c writing to w, or nil for
// identity. Give it back with putEncoder.
func takeEncoder(c coding, w io.Writer) encoder {
	var e encoder
	switch c {
	case codingGzip:
		e = gzipEncoders.Get().(*gzip.Writer)
	case codingZstd:
		e = zstdEncoders.Get().(*zstd.Encoder)
	default:
		return nil
	}
	e.Reset(w)
	return e
}

// putEncoder gives e, of coding c, back to its pool, closed or not. It
// keeps no reference to the writer it wrote to.
func putEncoder(c coding, e encoder) {
	e.Reset(io.Discard)
	switch c {
	case codingGzip:
		gzipEncoders.Put(e)
	case codingZstd:
		zstdEncoders.Put(e)
	}
}

// blob answers 200 with body, compressed when it is at least
// minCompressBytes and the client accepts a coding offered.
func (s *Server) blob(c echo.Context, contentType string, body []byte) error {
	w := c.Response()
	cd := s.acceptedCoding(w, c.Request())
	if cd == identity || len(body) < minCompressBytes {
		return c.Blob(http.StatusOK, contentType, body)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Encoding", cd.String())
	w.WriteHeader(http.StatusOK)
	e := takeEncoder(cd, w)
	defer putEncoder(cd, e)
	if _, err := e.Write(body); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	if err := e.Close(); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}
