package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Link is what a slow link between a client and the server does: its
// bandwidth toward the client and the latency each way.
type Link struct {
	// DownKBps is the bandwidth from server to client, in kB/s (1,000
	// bytes): 20 Mbit/s is 2,500.
	DownKBps int64
	// OneWay is the latency added in each direction; the round trip is
	// twice it.
	OneWay time.Duration
}

// StartSlowLink starts a Toxiproxy proxy in this process in front of
// upstream (host:port), shaped as link says, and returns its address. It
// stops when the test ends.
func StartSlowLink(tb testing.TB, upstream string, link Link) string {
	tb.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(server, "slow-link", "127.0.0.1:0", upstream)
	if err := proxy.Start(); err != nil {
		tb.Fatalf("start the slow link: %v", err)
	}
	tb.Cleanup(proxy.Stop)
	ms := link.OneWay.Milliseconds()
	for _, toxic := range []string{
		fmt.Sprintf(`{"name":"bandwidth","type":"bandwidth","stream":"downstream","attributes":{"rate":%d}}`, link.DownKBps),
		fmt.Sprintf(`{"name":"latency-down","type":"latency","stream":"downstream","attributes":{"latency":%d}}`, ms),
		fmt.Sprintf(`{"name":"latency-up","type":"latency","stream":"upstream","attributes":{"latency":%d}}`, ms),
	} {
		if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
			tb.Fatalf("shape the slow link: %v", err)
		}
	}
	return proxy.Listen
}

// WireCounter dials TCP connections and counts the bytes they read: what
// crossed the wire toward the client, headers and framing included.
type WireCounter struct{ read atomic.Int64 }

// DialContext dials like net.Dialer and counts what the connection reads.
func (w *WireCounter) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, read: &w.read}, nil
}

// Read returns the bytes read so far by every connection it dialed.
func (w *WireCounter) Read() int64 { return w.read.Load() }

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}
