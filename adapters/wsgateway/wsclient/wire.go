package wsclient

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// WireCounter counts the bytes that cross the TCP connections dialled
// through its HTTPClient, in each direction: the upgrade and every frame,
// as sent — compressed where compression was negotiated — so that the
// figure is what the network carried, not the size of the messages.
type WireCounter struct {
	read, written atomic.Int64
}

// WireBytes is a count of a WireCounter at one moment.
type WireBytes struct {
	// Read is what the servers sent, Written what the clients sent.
	Read, Written int64
}

// Bytes returns what has crossed the counted connections so far.
func (w *WireCounter) Bytes() WireBytes {
	return WireBytes{Read: w.read.Load(), Written: w.written.Load()}
}

// HTTPClient returns a client whose connections are counted, for
// WithHTTPClient (or coder/websocket's DialOptions.HTTPClient). Each call
// returns a new client with a transport of its own.
func (w *WireCounter) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         w.DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
	}}
}

// DialContext dials a TCP connection whose bytes are counted, for an
// http.Transport of the caller's own.
func (w *WireCounter) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, w: w}, nil
}

// countedConn adds what crosses it to its WireCounter.
type countedConn struct {
	net.Conn
	w *WireCounter
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.read.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.written.Add(int64(n))
	return n, err
}
