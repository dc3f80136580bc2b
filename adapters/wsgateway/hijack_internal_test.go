package wsgateway

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/ports/portstest"
)

// countingConn records each write made to the network.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	closed bool
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *countingConn) SetWriteDeadline(time.Time) error { return nil }

func (c *countingConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// A message larger than the socket's write buffer — a frame header the
// buffer holds, then a payload it cannot — reaches the network in one
// write while corked, in two otherwise; what others write meanwhile (a
// pong) follows it, in order.
func TestCorkedWriter_OneWritePerMessage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload int
	}{{"small", 200}, {"past the buffer", 3000}, {"many buffers", 70_000}} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &countingConn{}
			cork := &corkedWriter{Conn: conn}
			bw := bufio.NewWriterSize(cork, upgradedWriteBuffer)
			payload := []byte(strings.Repeat("x", tc.payload))
			write := func() {
				bw.Write([]byte{0x81, 126, 0, 0}) // a header
				bw.Write(payload)
				bw.Flush()
			}
			write()
			uncorked := len(conn.writes)
			conn.writes = nil

			cork.Cork()
			write()
			pong := make(chan struct{})
			go func() { // another goroutine's frame, while corked
				defer close(pong)
				cork.Write([]byte{0x8a, 0})
			}()
			<-pong
			if err := cork.Uncork(); err != nil {
				t.Fatal(err)
			}
			if len(conn.writes) != 1 {
				t.Fatalf("corked: %d writes to the network, want 1", len(conn.writes))
			}
			want := append(append([]byte{0x81, 126, 0, 0}, payload...), 0x8a, 0)
			if !bytes.Equal(conn.writes[0], want) {
				t.Fatalf("corked: wrote %d bytes not in order, want %d", len(conn.writes[0]), len(want))
			}
			if tc.payload > upgradedWriteBuffer && uncorked < 2 {
				t.Fatalf("uncorked: %d writes; the case does not test what it says", uncorked)
			}
			conn.writes = nil
			cork.Write([]byte("after"))
			if len(conn.writes) != 1 {
				t.Fatalf("after Uncork a write is gathered still")
			}
		})
	}
}

// coder/websocket answers a client's close frame and closes the connection
// at once, from the reader's goroutine — maybe while the writer is corked:
// the close frame, gathered behind the writer's message, must still reach
// the client before the connection closes.
func TestCorkedWriter_CloseWritesWhatWasGathered(t *testing.T) {
	conn := &countingConn{}
	cork := &corkedWriter{Conn: conn}
	cork.Cork()
	cork.Write([]byte("message"))
	cork.Write([]byte{0x88, 2, 0x03, 0xe8}) // the close frame
	if err := cork.Close(); err != nil {
		t.Fatal(err)
	}
	if len(conn.writes) != 1 || string(conn.writes[0]) != "message\x88\x02\x03\xe8" || !conn.closed {
		t.Fatalf("wrote %q then closed: %v; want the message and the close frame, then closed", conn.writes, conn.closed)
	}
	if err := cork.Uncork(); err != nil {
		t.Fatalf("Uncork after Close: %v, want nothing left to write", err)
	}
}

// A client that stopped reading holds a write to the network; closing the
// socket (the watchdog's CloseNow) must not wait for it.
func TestCorkedWriter_CloseDoesNotWaitForAStuckClient(t *testing.T) {
	server, client := net.Pipe() // synchronous: a write waits for a read that never comes
	defer client.Close()
	cork := &corkedWriter{Conn: server}
	stuck := make(chan error)
	go func() {
		_, err := cork.Write([]byte("never read"))
		stuck <- err
	}()
	portstest.Await(t, "the write to block", func() bool {
		if !cork.wmu.TryLock() {
			return true
		}
		cork.wmu.Unlock()
		return false
	})
	cork.Cork()
	gathered := make(chan struct{})
	go func() { // the writer's message: its turn comes after the stuck write
		defer close(gathered)
		cork.Write([]byte("gathered"))
	}()
	start := time.Now()
	if err := cork.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if err := <-stuck; err == nil {
		t.Fatal("the stuck write succeeded with nobody reading")
	}
	<-gathered
	// Not a timing bound on the machine: the deadlines Close sets are
	// 10 ms each, and a close that waited for the client would never end.
	if took > 50*closeFlushTimeout {
		t.Fatalf("Close took %v with a stuck write: it waited for the client", took)
	}
}
