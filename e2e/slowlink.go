package e2e

import (
	"fmt"
	"strings"
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
