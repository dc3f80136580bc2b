package wsgateway_test

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// fanoutSockets is how many dashboards the fan-out benchmarks connect.
const fanoutSockets = 1000

// benchGateway serves a gateway over a feed of 20 demo tickets (a snapshot
// of a few messages, compressed where it passes the threshold) with room
// for the benchmark's sockets, and connects n raw clients that offer
// compression or not; it returns once every snapshot has ended.
func benchGateway(b testing.TB, n int, deflate bool, opts wsgateway.Options) (*fixture, []*rawClient) {
	b.Helper()
	opts.MaxConnections, opts.MaxConnectionsPerAddress, opts.MaxConnectionsPerToken = 2*n, 2*n, 2*n
	opts.PingInterval = time.Hour // no pings in the measurement
	f := newFixtureWith(b, demodata.New(21).Tickets(20), opts, app.HubConfig{})
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i] = dialBench(b, addr, "", "admin", offerIf(deflate), `{"type":"end"`)
		if got := clients[i].Extensions != ""; got != (deflate && !opts.DisableCompression) {
			b.Fatalf("extensions %q negotiated, want compression %v", clients[i].Extensions, deflate)
		}
	}
	b.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	portstest.Await(b, "every snapshot to end", func() bool {
		return !slices.ContainsFunc(clients, func(c *rawClient) bool { return !c.seen.Load() })
	})
	for _, c := range clients {
		c.decode.Store(false)
	}
	return f, clients
}

// BenchmarkCompression_LiveFanout publishes live changes to 1,000
// dashboards in-process, one change at a time, and measures the time from
// the change entering the feed to its message reaching each socket
// (p50, p99, max over every socket and change), the process's CPU per
// change, the bytes on the wire per socket and the memory allocated per
// change (a compressor that is not pooled shows here: coder/websocket's
// weighs about 1.2 MB). The clients only split
// frames, so the CPU is the server's: hub, writers, compression. Cases: a
// change of 1 ticket and a bulk change of 16 (above the threshold), each
// without compression, with it negotiated (live changes still go out
// plain: the default), and with live changes compressed too
// (CompressLiveChanges; for one ticket with the threshold at 1 byte).
// Run:
//
//	go test -run '^$' -bench Compression_LiveFanout -benchtime 30x -timeout 30m ./adapters/wsgateway
func BenchmarkCompression_LiveFanout(b *testing.B) {
	cases := []struct {
		name    string
		tickets int
		deflate bool
		opts    wsgateway.Options
	}{
		{"changes=1/plain", 1, false, wsgateway.Options{}},
		{"changes=1/deflate", 1, true, wsgateway.Options{}},
		{"changes=1/deflate-all", 1, true, wsgateway.Options{CompressionThreshold: 1, CompressLiveChanges: true}},
		{"changes=16/plain", 16, false, wsgateway.Options{}},
		{"changes=16/deflate", 16, true, wsgateway.Options{}},
		{"changes=16/deflate-live", 16, true, wsgateway.Options{CompressLiveChanges: true}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			f, clients := benchGateway(b, fanoutSockets, tc.deflate, tc.opts)
			tickets := f.tickets[:tc.tickets]
			var lat []time.Duration
			var wire, messages int64
			var mem runtime.MemStats
			runtime.ReadMemStats(&mem)
			allocated := mem.TotalAlloc
			cpu := processCPU()
			changes := 0
			for b.Loop() {
				before := make([]int64, len(clients))
				var wireBefore int64
				for i, c := range clients {
					before[i] = c.messages.Load()
					wireBefore += c.wire.Load()
				}
				for i := range tickets {
					tickets[i] = touch(tickets[i], fmt.Sprintf("change %d", changes))
				}
				start := time.Now()
				f.feed.Put(tickets...)
				portstest.Await(b, "the change to reach every socket", func() bool {
					for i, c := range clients {
						if c.messages.Load() <= before[i] {
							return false
						}
					}
					return true
				})
				for i, c := range clients {
					lat = append(lat, time.Duration(c.arrived.Load()-start.UnixNano()))
					messages += c.messages.Load() - before[i]
					wire += c.wire.Load()
				}
				wire -= wireBefore
				changes++
			}
			cpu = processCPU() - cpu
			runtime.ReadMemStats(&mem)
			allocated = mem.TotalAlloc - allocated
			slices.Sort(lat)
			b.ReportMetric(lat[len(lat)/2].Seconds()*1000, "p50-ms")
			b.ReportMetric(lat[len(lat)*99/100].Seconds()*1000, "p99-ms")
			b.ReportMetric(lat[len(lat)-1].Seconds()*1000, "max-ms")
			b.ReportMetric(cpu.Seconds()*1000/float64(changes), "cpu-ms/change")
			b.ReportMetric(float64(wire)/float64(changes*len(clients)), "wire-B/socket")
			b.ReportMetric(float64(messages)/float64(changes*len(clients)), "msgs/socket")
			b.ReportMetric(float64(allocated)/1024/float64(changes), "alloc-KB/change")
		})
	}
}

// heapAndStacks is the memory the Go runtime holds for live objects and
// goroutine stacks, after collecting twice (so pooled objects are gone).
func heapAndStacks() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc + m.StackInuse)
}

// BenchmarkCompression_IdleSocketMemory connects 1,000 dashboards that
// have loaded their snapshot (compressed, where negotiated) and now idle,
// and reports the growth of heap and stacks per socket, clients' share
// included (the same in both modes): without compression, with it
// negotiated, and the difference — which is what compression costs an
// idle dashboard. Run:
//
//	go test -run '^$' -bench Compression_IdleSocketMemory -benchtime 1x -timeout 30m ./adapters/wsgateway
func BenchmarkCompression_IdleSocketMemory(b *testing.B) {
	perSocket := func(b *testing.B, deflate bool) float64 {
		var kb float64
		b.Run(map[bool]string{false: "plain", true: "deflate"}[deflate], func(b *testing.B) {
			for b.Loop() {
				before := heapAndStacks()
				f, clients := benchGateway(b, fanoutSockets, deflate, wsgateway.Options{})
				// One live change (of 16 tickets, above the threshold; live
				// changes go out plain all the same), so that every socket
				// has written since its snapshot.
				big := f.tickets[:16]
				for i := range big {
					big[i] = touch(big[i], "idle")
				}
				seen := make([]int64, len(clients))
				for i, c := range clients {
					seen[i] = c.messages.Load()
				}
				f.feed.Put(big...)
				portstest.Await(b, "the change to reach every socket", func() bool {
					for i, c := range clients {
						if c.messages.Load() <= seen[i] {
							return false
						}
					}
					return true
				})
				// And every client subscribes again, compressing its message
				// where negotiated, as browsers do: the server inflates it.
				resubscribe(b, clients, deflate)
				kb = (heapAndStacks() - before) / 1024 / float64(len(clients))
				b.ReportMetric(kb, "KB/socket")
				runtime.KeepAlive(f)
			}
		})
		return kb
	}
	plain := perSocket(b, false)
	deflate := perSocket(b, true)
	b.Logf("idle socket with %d sockets: %.2f KB plain, %.2f KB with compression negotiated: %+.2f KB", fanoutSockets, plain, deflate, deflate-plain)
}

// resubscribe has every client send a subscribe message, compressed or
// not, and waits for each resubscription's snapshot to end.
func resubscribe(tb testing.TB, clients []*rawClient, compressed bool) {
	tb.Helper()
	seen := make([]int64, len(clients))
	for i, c := range clients {
		seen[i] = c.messages.Load()
		c.sendText(tb, compressed, []byte(`{"type":"subscribe","query":"status=open"}`))
	}
	portstest.Await(tb, "every resubscription's end", func() bool {
		for i, c := range clients {
			if c.messages.Load() < seen[i]+2 {
				return false
			}
		}
		return true
	})
}
