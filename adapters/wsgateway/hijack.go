package wsgateway

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// Buffer sizes of an upgraded connection. net/http hands a hijacked
// connection over with 4 KB buffers each way, kept by coder/websocket for
// the socket's life: most of what an idle dashboard costs. A dashboard's
// messages are a few hundred bytes (subscribe, pong, close), and what the
// writer sends passes through a corkedWriter, which turns a message larger
// than the buffer into one write to the network all the same.
const (
	upgradedReadBuffer  = 512
	upgradedWriteBuffer = 1024
)

// smallBuffers wraps the http.ResponseWriter of an upgrade so that the
// hijacked connection comes with smaller buffers, and writes through a
// corkedWriter.
type smallBuffers struct {
	http.ResponseWriter
	hj   http.Hijacker
	cork *corkedWriter // set by Hijack
}

// withSmallBuffers returns w, hijacking with smaller buffers when w can be
// hijacked at all.
func withSmallBuffers(w http.ResponseWriter) http.ResponseWriter {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return w
	}
	return &smallBuffers{ResponseWriter: w, hj: hj}
}

// corkOf returns the corkedWriter under the connection w hijacked, or nil.
func corkOf(w http.ResponseWriter) *corkedWriter {
	if s, ok := w.(*smallBuffers); ok {
		return s.cork
	}
	return nil
}

// Hijack implements http.Hijacker.
func (s *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := s.hj.Hijack()
	if err != nil {
		return conn, brw, err
	}
	r, w := brw.Reader, brw.Writer
	if r.Buffered() == 0 { // else the client's early bytes must be kept
		r = bufio.NewReaderSize(conn, upgradedReadBuffer)
	}
	if w.Buffered() == 0 {
		s.cork = &corkedWriter{Conn: conn}
		// coder/websocket writes and closes through the cork.
		return s.cork, bufio.NewReadWriter(r, bufio.NewWriterSize(s.cork, upgradedWriteBuffer)), nil
	}
	return conn, bufio.NewReadWriter(r, w), nil
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (s *smallBuffers) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// corkedWriter is the connection under a socket's write buffer. coder/websocket
// writes a frame's header into the buffer and then its payload; a payload
// larger than what is left of the buffer makes two writes to the network,
// each a system call and, on a fan-out to thousands of sockets, most of the
// server's CPU. While corked, what the buffer passes on is gathered instead
// (in scratch from a pool), and Uncork writes it at once: one system call
// per message, whatever its size, with the buffer still small for an idle
// socket. What others write meanwhile (pongs, pings, a close frame) is
// gathered behind it, in order.
//
// Close — coder/websocket closes the connection right after writing a close
// frame, maybe into the gathered bytes — first writes what was gathered,
// giving a write in progress and the flush at most closeFlushTimeout each:
// a healthy client takes microseconds, and one that stopped reading holds
// the close (the watchdog's, a shutdown's) no longer than that.
//
// Who guards what. wmu is held across each write to the network, so that
// bytes go out in the order they were written; mu (never held across a
// write to the network) guards corked, buf and closed, and is taken after
// wmu when both are.
type corkedWriter struct {
	net.Conn
	wmu    sync.Mutex
	mu     sync.Mutex
	corked bool
	closed bool
	buf    *[]byte
}

// closeFlushTimeout bounds how long Close waits for a write in progress,
// and then for its own flush of what was gathered.
const closeFlushTimeout = 10 * time.Millisecond

var corkPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Write implements io.Writer.
func (w *corkedWriter) Write(p []byte) (int, error) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	if w.corked {
		*w.buf = append(*w.buf, p...)
		w.mu.Unlock()
		return len(p), nil
	}
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// Cork gathers what is written until Uncork.
func (w *corkedWriter) Cork() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.corked = true
	if w.buf == nil {
		w.buf = corkPool.Get().(*[]byte)
	}
}

// take ends the cork and returns what was gathered (nil if nothing).
func (w *corkedWriter) take() *[]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.corked = false
	b := w.buf
	w.buf = nil
	return b
}

// Uncork writes what was gathered since Cork to the connection.
func (w *corkedWriter) Uncork() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.flush(w.take())
}

// flush writes b to the network and gives it back to the pool. wmu held.
func (w *corkedWriter) flush(b *[]byte) error {
	if b == nil {
		return nil
	}
	var err error
	if len(*b) > 0 {
		_, err = w.Conn.Write(*b)
	}
	if cap(*b) <= maxPooledScratch {
		*b = (*b)[:0]
		corkPool.Put(b)
	}
	return err
}

// Close writes what was gathered, then closes the connection.
func (w *corkedWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.Conn.Close()
	}
	w.closed = true
	w.mu.Unlock()
	if !w.wmu.TryLock() {
		// A write in progress to a client that reads nothing ends at this
		// deadline; one to a client that reads, long before it.
		_ = w.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		w.wmu.Lock()
	}
	_ = w.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	_ = w.flush(w.take())
	w.wmu.Unlock()
	return w.Conn.Close()
}
