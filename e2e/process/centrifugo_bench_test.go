package process

import (
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"
)

// BenchmarkLatencyFloor puts ticketstream beside Centrifugo in one run:
// 1,000 dashboards, one ticket changed 20 times at 10/s — ticketstream's
// commit→client and Centrifugo's publish→client (each from the writer's
// call returning), Centrifugo's clients subscribed to one channel that
// every publication goes to, its payload the same ticket JSON — and what
// an idle connection costs each server: heap and stacks after a GC (both
// read through the Go profiler), and RSS growth. Beside them runs, for
// reference, barecast (internal/barecast): a broadcaster that only writes
// each publication to each client, from the client's own goroutine,
// through coder/websocket — what the fan-out alone costs on this machine:
// barecast-p99-ratio, its p99 against Centrifugo's, is the floor of any
// server whose every message costs one write per client, ticketstream's
// among them, on this machine.
// Each server is measured twice, in the order Centrifugo, barecast,
// ticketstream, ticketstream, barecast, Centrifugo, after a GC of this
// process and a pause, and the percentiles are those of both runs'
// deliveries together: no server runs only first, or only after
// another's thousand sockets were torn down.
//
// A publisher's call returns when the server chooses: Centrifugo's once
// its broker has queued the publication for every client, by when the
// first clients have it. So the log also gives the publishers' latency
// from the call's start, before the server has the publication; and, for
// every server, each run's p99, the median latency of the first client
// to receive a change, and the CPU each process spent. (ticketstream has
// no such second clock: its writer's call returns when the commit is
// durable and visible, the instant a dashboard could first be told.)
// CENTRIFUGO names a Centrifugo v6 binary; without it the benchmark is
// skipped:
//
//	GOBIN=$PWD/bin go install github.com/centrifugal/centrifugo/v6@v6.9.1
//	CENTRIFUGO=$PWD/bin/centrifugo go test -run '^$' -bench LatencyFloor -benchtime 1x -timeout 30m ./e2e/process
func BenchmarkLatencyFloor(b *testing.B) {
	bin := os.Getenv("CENTRIFUGO")
	if bin == "" {
		b.Skip("set CENTRIFUGO to a Centrifugo v6 binary (GOBIN=$PWD/bin go install github.com/centrifugal/centrifugo/v6@v6.9.1)")
	}
	const clients, changes = 1000, 20
	every := 100 * time.Millisecond
	publish := func(p publisher) func() latencyResult {
		return func() latencyResult { settle(); return measurePublisher(b, p, clients, changes, every) }
	}
	cfRun, bareRun := publish(centrifugo(bin)), publish(barecast(b))
	tsRun := func() latencyResult {
		settle()
		return measureLiveLatency(b, latencyRun{clients: clients, changes: changes, every: every, oneTicket: true})
	}
	p99 := func(ds []time.Duration) time.Duration { return percentiles(slices.Clone(ds)).p99 }
	for range b.N {
		cf1, bare1 := cfRun(), bareRun()
		ts1, ts2 := tsRun(), tsRun()
		bare2, cf2 := bareRun(), cfRun()
		cf, bare, ts := pooled(cf1, cf2), pooled(bare1, bare2), pooled(ts1, ts2)
		cfCall, bareCall := p99(cf.fromCall), p99(bare.fromCall)
		b.ReportMetric(ms(ts.p50), "ticketstream-p50-ms")
		b.ReportMetric(ms(ts.p99), "ticketstream-p99-ms")
		b.ReportMetric(ms(cf.p50), "centrifugo-p50-ms")
		b.ReportMetric(ms(cf.p99), "centrifugo-p99-ms")
		b.ReportMetric(ts.p99.Seconds()/cf.p99.Seconds(), "p99-ratio")
		// The floor of this machine: a server that only writes.
		b.ReportMetric(bare.p99.Seconds()/cf.p99.Seconds(), "barecast-p99-ratio")
		b.ReportMetric(ts.p99.Seconds()/cfCall.Seconds(), "p99-ratio-to-call-start")
		b.ReportMetric(ts.kbPerConn, "ticketstream-KB/conn")
		b.ReportMetric(cf.kbPerConn, "centrifugo-KB/conn")
		b.ReportMetric(ts.rssPerConn/cf.rssPerConn, "RSS/conn-ratio")
		b.Logf("%d dashboards, one ticket changed %d times at 10/s, two runs each: ticketstream commit→client p50 %.1f ms, p99 %.1f ms (%d versions merged); Centrifugo publish→client p50 %.1f ms, p99 %.1f ms; p99 %.2f× Centrifugo's",
			clients, changes, ms(ts.p50), ms(ts.p99), ts.merged, ms(cf.p50), ms(cf.p99), ts.p99.Seconds()/cf.p99.Seconds())
		b.Logf("the publishers from the call's start: Centrifugo p99 %.1f ms, barecast %.1f ms; ticketstream's commit→client p99 is %.2f× Centrifugo's and %.2f× barecast's on that clock",
			ms(cfCall), ms(bareCall), ts.p99.Seconds()/cfCall.Seconds(), ts.p99.Seconds()/bareCall.Seconds())
		b.Logf("barecast (only a write per client) publish→client p50 %.1f ms, p99 %.1f ms: %.2f× Centrifugo's p99, the floor of this machine for a server whose every message is one write per client",
			ms(bare.p50), ms(bare.p99), bare.p99.Seconds()/cf.p99.Seconds())
		b.Logf("each run's p99 in ms, in order — from the call's return: Centrifugo %.1f, barecast %.1f, ticketstream %.1f, ticketstream %.1f, barecast %.1f, Centrifugo %.1f; publishers from the call's start: Centrifugo %.1f, barecast %.1f, barecast %.1f, Centrifugo %.1f",
			ms(cf1.p99), ms(bare1.p99), ms(ts1.p99), ms(ts2.p99), ms(bare2.p99), ms(cf2.p99),
			ms(p99(cf1.fromCall)), ms(p99(bare1.fromCall)), ms(p99(bare2.fromCall)), ms(p99(cf2.fromCall)))
		b.Logf("first client to receive a change (median over the changes): ticketstream %.1f ms after the commit returned; from the publish call's start Centrifugo %.1f ms, barecast %.1f ms",
			ms(median(ts.first)), ms(median(cf.firstFromCall)), ms(median(bare.firstFromCall)))
		b.Logf("CPU while publishing and delivering, mean of the runs: ticketstream %.2fs, Centrifugo %.2fs, barecast %.2fs; the benchmark process (its 1,000 clients, the writer or publisher) %.2fs, %.2fs, %.2fs",
			ts.serverCPU.Seconds(), cf.serverCPU.Seconds(), bare.serverCPU.Seconds(), ts.clientCPU.Seconds(), cf.clientCPU.Seconds(), bare.clientCPU.Seconds())
		us := func(d time.Duration) float64 { return d.Seconds() * 1e6 / (clients * changes) }
		b.Logf("CPU per delivery (a change to one client): ticketstream %.1f µs, Centrifugo %.1f µs, barecast %.1f µs; the clients %.1f µs, %.1f µs, %.1f µs; server and clients share the 2 cores, so a change's fan-out takes about half their sum",
			us(ts.serverCPU), us(cf.serverCPU), us(bare.serverCPU), us(ts.clientCPU), us(cf.clientCPU), us(bare.clientCPU))
		b.Logf("per idle connection: ticketstream %.1f KB of heap and stacks, RSS growth %.1f KB; Centrifugo %.1f KB, RSS growth %.1f KB; RSS growth %.2f× Centrifugo's",
			ts.kbPerConn, ts.rssPerConn, cf.kbPerConn, cf.rssPerConn, ts.rssPerConn/cf.rssPerConn)
	}
}

// settle collects this process's garbage — a thousand clients' worth from
// the run before — and gives it back, then pauses, so that a run does not
// pay for the one before it.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(2 * time.Second)
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return d.Seconds() * 1000 }

// pooled returns the percentiles of two runs' deliveries together, and
// the means of their per-connection costs and CPU.
func pooled(a, b latencyResult) latencyResult {
	r := percentiles(append(slices.Clone(a.samples), b.samples...))
	r.merged = a.merged + b.merged
	r.first = append(slices.Clone(a.first), b.first...)
	r.fromCall = append(slices.Clone(a.fromCall), b.fromCall...)
	r.firstFromCall = append(slices.Clone(a.firstFromCall), b.firstFromCall...)
	r.kbPerConn, r.rssPerConn = (a.kbPerConn+b.kbPerConn)/2, (a.rssPerConn+b.rssPerConn)/2
	r.serverCPU, r.clientCPU = (a.serverCPU+b.serverCPU)/2, (a.clientCPU+b.clientCPU)/2
	return r
}
