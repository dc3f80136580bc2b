package wsgateway_test

// rawClient: a WebSocket client of the benchmarks that costs next to
// nothing, so that what they measure is the server. It upgrades by hand
// (offering permessage-deflate or not), counts the bytes the server sends
// as they come off the TCP connection, and splits them into frames without
// decompressing — except, while decoding is on, to watch for a message
// (the end of the snapshot) before the measurement starts.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// rawClient is one socket of a benchmark.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	// Extensions is the server's Sec-WebSocket-Extensions answer.
	Extensions string
	wire       atomic.Int64 // bytes read off the connection, upgrade included
	messages   atomic.Int64 // data messages received
	arrived    atomic.Int64 // when the last one ended (Unix ns)
	// decode, while true, inflates each message and stores whether it
	// began with want in seen.
	decode atomic.Bool
	want   []byte
	seen   atomic.Bool
	done   chan struct{}
	// closeCode and closeReason are the server's close frame's, once read.
	closeCode   atomic.Int32
	closeReason atomic.Value // string
}

// countingReader counts what it reads into n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// deflateOffer is the permessage-deflate offer of the benchmarks' clients.
const deflateOffer = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"

// dialBench upgrades a socket to addr (host:port) for query with token,
// offering the extensions in offer (none if empty), and starts reading
// it. want is the prefix that decoding watches for.
func dialBench(tb testing.TB, addr, query, token, offer, want string) *rawClient {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	key := make([]byte, 16)
	rand.Read(key)
	var req strings.Builder
	fmt.Fprintf(&req, "GET /v1/stream?%s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: %s\r\nAuthorization: Bearer %s\r\n",
		query, addr, base64.StdEncoding.EncodeToString(key), wsgateway.Subprotocol, token)
	if offer != "" {
		req.WriteString("Sec-WebSocket-Extensions: " + offer + "\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		tb.Fatalf("write upgrade: %v", err)
	}
	c := &rawClient{conn: conn, want: []byte(want), done: make(chan struct{})}
	c.br = bufio.NewReaderSize(countingReader{conn, &c.wire}, 512)
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		tb.Fatalf("upgrade: %v (%v)", err, resp)
	}
	c.Extensions = resp.Header.Get("Sec-WebSocket-Extensions")
	c.decode.Store(true)
	go c.read()
	return c
}

// read splits the server's bytes into frames until the connection ends.
func (c *rawClient) read() {
	defer close(c.done)
	var msg []byte
	compressed := false
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
			return
		}
		fin, rsv1, opcode := hdr[0]&0x80 != 0, hdr[0]&0x40 != 0, hdr[0]&0x0f
		n := int64(hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
				return
			}
			n = int64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(c.br, hdr[:8]); err != nil {
				return
			}
			n = int64(binary.BigEndian.Uint64(hdr[:8]))
		}
		decoding := opcode < 8 && c.decode.Load()
		if opcode == 8 { // close: keep its code and reason
			payload := make([]byte, n)
			if _, err := io.ReadFull(c.br, payload); err == nil && n >= 2 {
				c.closeCode.Store(int32(binary.BigEndian.Uint16(payload)))
				c.closeReason.Store(string(payload[2:]))
			}
			return
		}
		if decoding {
			if opcode != 0 {
				msg, compressed = msg[:0], rsv1
			}
			start := len(msg)
			msg = append(msg, make([]byte, n)...)
			if _, err := io.ReadFull(c.br, msg[start:]); err != nil {
				return
			}
		} else if _, err := c.br.Discard(int(n)); err != nil {
			return
		}
		if opcode == 8 { // close
			return
		}
		if opcode >= 8 || !fin {
			continue
		}
		if decoding {
			c.inspect(msg, compressed)
		}
		c.arrived.Store(time.Now().UnixNano())
		c.messages.Add(1)
	}
}

// inspect notes whether a decoded message starts with want.
func (c *rawClient) inspect(msg []byte, compressed bool) {
	data := msg
	if compressed {
		r := flate.NewReader(io.MultiReader(bytes.NewReader(msg), strings.NewReader("\x00\x00\xff\xff")))
		var err error
		data, err = io.ReadAll(r)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return
		}
	}
	if bytes.HasPrefix(data, c.want) {
		c.seen.Store(true)
	}
}

// Close drops the connection and waits for the reader.
func (c *rawClient) Close() {
	c.conn.Close()
	<-c.done
}

// offerIf is deflateOffer if deflate is set, else no offer.
func offerIf(deflate bool) string {
	if deflate {
		return deflateOffer
	}
	return ""
}

// sendText sends p as one masked text frame, compressed (deflated, RSV1
// set) as a browser does once permessage-deflate is negotiated, or not.
func (c *rawClient) sendText(tb testing.TB, compressed bool, p []byte) {
	tb.Helper()
	if compressed {
		var buf bytes.Buffer
		w, err := flate.NewWriter(&buf, flate.BestSpeed)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(p)
		w.Flush()
		p = bytes.TrimSuffix(buf.Bytes(), []byte("\x00\x00\xff\xff"))
	}
	c.sendRaw(tb, compressed, p)
}

// sendRaw sends payload as it is in one masked text frame, with RSV1 (the
// payload is compressed) or not.
func (c *rawClient) sendRaw(tb testing.TB, rsv1 bool, p []byte) {
	tb.Helper()
	c.sendFrame(tb, true, rsv1, 1, p)
}

// sendFrame sends one masked frame: fin, rsv1, opcode op (1 text, 0
// continuation, 8 close…) and payload p.
func (c *rawClient) sendFrame(tb testing.TB, fin, rsv1 bool, op byte, p []byte) {
	tb.Helper()
	first := op
	if fin {
		first |= 0x80
	}
	if rsv1 {
		first |= 0x40
	}
	frame := []byte{first, 0x80 | 126, byte(len(p) >> 8), byte(len(p)), 0, 0, 0, 0} // a zero mask
	if len(p) < 126 {
		frame = []byte{first, 0x80 | byte(len(p)), 0, 0, 0, 0}
	}
	if _, err := c.conn.Write(append(frame, p...)); err != nil {
		tb.Fatalf("send: %v", err)
	}
}

// awaitClose waits for the connection to end and returns the code and
// reason of the server's close frame (0 and "" if none came).
func (c *rawClient) awaitClose(tb testing.TB) (int, string) {
	tb.Helper()
	portstest.Await(tb, "the server to close the socket", func() bool {
		select {
		case <-c.done:
			return true
		default:
			return false
		}
	})
	reason, _ := c.closeReason.Load().(string)
	return int(c.closeCode.Load()), reason
}
