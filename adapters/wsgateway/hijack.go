package wsgateway

import (
	"bufio"
	"net"
	"net/http"
)

// Buffer sizes of an upgraded connection. net/http hands a hijacked
// connection over with 4 KB buffers each way, kept by coder/websocket for
// the socket's life: most of what an idle dashboard costs. A dashboard's
// messages are a few hundred bytes (subscribe, pong, close), and a write
// larger than the buffer goes to the connection directly, so smaller
// buffers cost no extra system call for the small messages and one at most
// for the large ones.
const (
	upgradedReadBuffer  = 512
	upgradedWriteBuffer = 1024
)

// smallBuffers wraps the http.ResponseWriter of an upgrade so that the
// hijacked connection comes with smaller buffers.
type smallBuffers struct {
	http.ResponseWriter
	hj http.Hijacker
}

// withSmallBuffers returns w, hijacking with smaller buffers when w can be
// hijacked at all.
func withSmallBuffers(w http.ResponseWriter) http.ResponseWriter {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return w
	}
	return smallBuffers{ResponseWriter: w, hj: hj}
}

// Hijack implements http.Hijacker.
func (s smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := s.hj.Hijack()
	if err != nil {
		return conn, brw, err
	}
	r, w := brw.Reader, brw.Writer
	if r.Buffered() == 0 { // else the client's early bytes must be kept
		r = bufio.NewReaderSize(conn, upgradedReadBuffer)
	}
	if w.Buffered() == 0 {
		w = bufio.NewWriterSize(conn, upgradedWriteBuffer)
	}
	return conn, bufio.NewReadWriter(r, w), nil
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (s smallBuffers) Unwrap() http.ResponseWriter { return s.ResponseWriter }
