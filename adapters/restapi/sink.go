package restapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// Trailers of an NDJSON response, which has no envelope to carry them.
const (
	TrailerCount      = "Ticketstream-Count"
	TrailerNextCursor = "Ticketstream-Next-Cursor"
	TrailerError      = "Ticketstream-Error"
)

// httpSink is the ports.ChunkSink of one REST response. JSON is one document
// with the array first and the cursor last, so it can be written as it
// streams: {"tickets":[…],"count":N,"next_cursor":"…"}. NDJSON is a ticket
// per line, with count and cursor in HTTP trailers. Each chunk is written
// once and flushed, under a write deadline of its own: a healthy long stream
// is never cut short, a client that stops reading is dropped. With a coding
// other than identity each chunk goes through a pooled encoder, flushed
// with the chunk; the encoder is closed when the stream ends, before the
// trailers, and given back by release.
type httpSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	out     io.Writer // w, or enc writing to w
	coding  coding
	enc     encoder // nil until the response starts, and for identity
	ndjson  bool
	timeout time.Duration
	cursors *domain.CursorSealer // seals the next page's cursor
	started bool
	chunks  int
}

var _ ports.ChunkSink = (*httpSink)(nil)

func newHTTPSink(w http.ResponseWriter, c coding, ndjson bool, timeout time.Duration, cursors *domain.CursorSealer) *httpSink {
	return &httpSink{w: w, rc: http.NewResponseController(w), out: w, coding: c, ndjson: ndjson, timeout: timeout, cursors: cursors}
}

func (s *httpSink) delimiter() ports.Delimiter {
	if s.ndjson {
		return ports.Newline
	}
	return ports.Comma
}

// start sends the status line, headers and the envelope's opening.
func (s *httpSink) start() error {
	s.started = true
	h := s.w.Header()
	if s.ndjson {
		h.Set("Content-Type", "application/x-ndjson")
		h.Set("Trailer", TrailerCount+", "+TrailerNextCursor+", "+TrailerError)
	} else {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if s.coding != identity {
		h.Set("Content-Encoding", s.coding.String())
		h.Del("Content-Length")
		s.enc = takeEncoder(s.coding, s.w)
		s.out = s.enc
	}
	s.w.WriteHeader(http.StatusOK)
	if !s.ndjson {
		return s.write([]byte(`{"tickets":[`))
	}
	return nil
}

func (s *httpSink) write(b []byte) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := s.out.Write(b); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}

// WriteChunk implements ports.ChunkSink.
func (s *httpSink) WriteChunk(ctx context.Context, c ports.Chunk) error {
	defer c.Release()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	if !s.started {
		if err := s.start(); err != nil {
			return err
		}
	}
	if s.chunks > 0 {
		if err := s.write([]byte{byte(s.delimiter())}); err != nil {
			return err
		}
	}
	if err := s.write(c.Bytes()); err != nil {
		return err
	}
	s.chunks++
	if s.enc != nil {
		if err := s.enc.Flush(); err != nil {
			return fmt.Errorf("flush response: %w", err)
		}
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush response: %w", err)
	}
	return nil
}

// finish ends a successful stream: the count and the cursor of the next
// page ("" when this page was not full, so there is no next page).
func (s *httpSink) finish(sum app.Summary, next nextPage) error {
	if !s.started {
		if err := s.start(); err != nil {
			return err
		}
	}
	if s.ndjson {
		s.w.Header().Set(TrailerCount, strconv.Itoa(sum.Rows))
		s.w.Header().Set(TrailerNextCursor, string(next.appendCursor(nil, s.cursors)))
		if sum.Rows > 0 {
			if err := s.write([]byte{'\n'}); err != nil {
				return err
			}
		}
		return s.end()
	}
	b := append([]byte(`],"count":`), strconv.Itoa(sum.Rows)...)
	if next.none() {
		b = append(b, `,"next_cursor":null}`...)
	} else {
		b = append(b, `,"next_cursor":"`...)
		b = next.appendCursor(b, s.cursors)
		b = append(b, `"}`...)
	}
	if err := s.write(append(b, '\n')); err != nil {
		return err
	}
	return s.end()
}

// nextPage is where the page after a response starts: after a Cursor in
// the default order, after the key of the last row in a sorted one; none
// when the response was the last page.
type nextPage struct {
	after domain.Cursor
	sort  domain.Sort
	key   domain.RowKey
}

// none reports whether there is no next page.
func (n *nextPage) none() bool { return n.after.IsZero() && n.key.ID == 0 }

// appendCursor appends the sealed cursor of the next page to dst: nothing
// when there is none.
func (n *nextPage) appendCursor(dst []byte, cursors *domain.CursorSealer) []byte {
	switch {
	case n.key.ID != 0:
		return cursors.AppendSortCursor(dst, n.sort, &n.key)
	case !n.after.IsZero():
		return cursors.AppendCursor(dst, n.after)
	}
	return dst
}

// fail ends a stream that broke after its status was sent: the document
// still parses, and says it is incomplete.
func (s *httpSink) fail(message string) {
	if s.ndjson {
		s.w.Header().Set(TrailerError, message)
	} else {
		b := append([]byte(`],"error":{"code":"internal","message":`), strconv.Quote(message)...)
		_ = s.write(append(b, "}}\n"...))
	}
	_ = s.end()
}

// end closes the compressed stream, if any, so that its last bytes go
// before the handler returns and net/http sends the trailers.
func (s *httpSink) end() error {
	if s.enc == nil {
		return nil
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if err := s.enc.Close(); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}

// release gives the encoder back to its pool; the sink writes nothing
// after. It is called once the stream is over, however it ended.
func (s *httpSink) release() {
	if s.enc != nil {
		putEncoder(s.coding, s.enc)
		s.enc, s.out = nil, s.w
	}
}
