package process

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkLatencyFloor puts ticketstream beside Centrifugo in one run:
// 1,000 dashboards, one ticket changed 20 times at 10/s — ticketstream's
// commit→client and Centrifugo's publish→client (each from the writer's
// call returning), Centrifugo's clients subscribed to one channel that
// every publication goes to, its payload the same ticket JSON — and what
// an idle connection costs each server: heap and stacks after a GC (both
// read through the Go profiler), and RSS growth. Each server is measured
// twice, in the order Centrifugo, ticketstream, ticketstream, Centrifugo,
// after a GC of this process and a pause, and the percentiles are those
// of both runs' deliveries together: neither server runs only first, or
// only after the other's thousand sockets were torn down. CENTRIFUGO
// names a Centrifugo v6 binary; without it the benchmark is skipped:
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
	centrifugo := func() latencyResult { settle(); return measureCentrifugo(b, bin, clients, changes, every) }
	ticketstream := func() latencyResult {
		settle()
		return measureLiveLatency(b, latencyRun{clients: clients, changes: changes, every: every, oneTicket: true})
	}
	for range b.N {
		cf1 := centrifugo()
		ts1, ts2 := ticketstream(), ticketstream()
		cf2 := centrifugo()
		cf, ts := pooled(cf1, cf2), pooled(ts1, ts2)
		b.ReportMetric(ts.p50.Seconds()*1000, "ticketstream-p50-ms")
		b.ReportMetric(ts.p99.Seconds()*1000, "ticketstream-p99-ms")
		b.ReportMetric(cf.p50.Seconds()*1000, "centrifugo-p50-ms")
		b.ReportMetric(cf.p99.Seconds()*1000, "centrifugo-p99-ms")
		b.ReportMetric(ts.p99.Seconds()/cf.p99.Seconds(), "p99-ratio")
		b.ReportMetric(ts.kbPerConn, "ticketstream-KB/conn")
		b.ReportMetric(cf.kbPerConn, "centrifugo-KB/conn")
		b.ReportMetric(ts.rssPerConn/cf.rssPerConn, "RSS/conn-ratio")
		b.Logf("each run's p50/p99 in ms: Centrifugo %.1f/%.1f, ticketstream %.1f/%.1f, ticketstream %.1f/%.1f, Centrifugo %.1f/%.1f",
			ms(cf1.p50), ms(cf1.p99), ms(ts1.p50), ms(ts1.p99), ms(ts2.p50), ms(ts2.p99), ms(cf2.p50), ms(cf2.p99))
		b.Logf("%d dashboards, one ticket changed %d times at 10/s, two runs each: ticketstream commit→client p50 %.1f ms, p99 %.1f ms (%d versions merged); Centrifugo publish→client p50 %.1f ms, p99 %.1f ms; p99 %.2f× Centrifugo's",
			clients, changes, ms(ts.p50), ms(ts.p99), ts.merged, ms(cf.p50), ms(cf.p99), ts.p99.Seconds()/cf.p99.Seconds())
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
// the means of their per-connection costs.
func pooled(a, b latencyResult) latencyResult {
	r := percentiles(append(slices.Clone(a.samples), b.samples...))
	r.merged = a.merged + b.merged
	r.kbPerConn, r.rssPerConn = (a.kbPerConn+b.kbPerConn)/2, (a.rssPerConn+b.rssPerConn)/2
	return r
}

// measureCentrifugo runs Centrifugo with clients subscribed to one channel
// and publishes changes to it every `every`, through its HTTP API.
func measureCentrifugo(b *testing.B, bin string, clients, changes int, every time.Duration) latencyResult {
	b.Helper()
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := b.TempDir()
	config := fmt.Sprintf(`{"client": {"insecure": true}, "http_api": {"key": "bench"}, "http_server": {"address": "127.0.0.1", "port": %d}, "log": {"level": "error"}, "debug": {"enabled": true}}`, port)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "config.json"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("centrifugo did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}

	time.Sleep(500 * time.Millisecond) // as the ticketstream server settles
	goBefore, rssBefore := goMemoryKB(b, addr), rssKB(b, cmd.Process.Pid)
	f, err := startFleet(ctx, clients, changes, fleetClient{
		dial: func(ctx context.Context) (*websocket.Conn, error) {
			c, _, err := websocket.Dial(ctx, "ws://"+addr+"/connection/websocket", nil)
			if err != nil {
				return nil, err
			}
			c.SetReadLimit(1 << 20)
			return c, c.Write(ctx, websocket.MessageText, []byte(`{"id":1,"connect":{}}`+"\n"+`{"id":2,"subscribe":{"channel":"tickets"}}`))
		},
		ready: func(msg []byte) bool { return bytes.Contains(msg, []byte(`"id":2`)) },
		answer: func(ctx context.Context, c *websocket.Conn, msg []byte) bool {
			if !bytes.Equal(bytes.TrimSpace(msg), []byte(`{}`)) {
				return false
			}
			_ = c.Write(ctx, websocket.MessageText, []byte(`{}`)) // a ping: pong
			return true
		},
	})
	if err != nil {
		b.Fatalf("centrifugo dial: %v", err)
	}
	time.Sleep(time.Second)
	goAfter := idleGoMemoryKB(b, addr)
	rssAfter := idleRSSKB(b, cmd.Process.Pid)
	subject := strings.Repeat("Printer on floor 3 jams on every duplex job since the driver update ", 3)
	commits := make([]time.Time, changes)
	tick := time.NewTicker(every)
	for k := range changes {
		<-tick.C
		body, _ := json.Marshal(map[string]any{"channel": "tickets", "data": map[string]any{
			"id": 1, "team": "latency", "subject": fmt.Sprintf("latency %d", k), "status": "open", "priority": "high",
			"requester": "someone@customer.example.com", "assignee": "agent@support.example.com", "tags": []string{"printer", "hardware"},
			"created_at": time.Now().UTC(), "updated_at": time.Now().UTC(), "detail": subject,
		}})
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/publish", bytes.NewReader(body))
		req.Header.Set("X-API-Key", "bench")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("centrifugo publish: HTTP %d", resp.StatusCode)
		}
		commits[k] = time.Now()
	}
	tick.Stop()
	if missing := f.lastArrived(time.Now().Add(30 * time.Second)); missing > 0 {
		b.Fatalf("%d centrifugo clients lack the last publication after 30s", missing)
	}
	f.close()
	r := latencies(f.arrivals, commits)
	r.rssBefore, r.rssAfter, r.rssPerConn = rssBefore, rssAfter, (rssAfter-rssBefore)/float64(clients)
	r.goBefore, r.goAfter, r.kbPerConn = goBefore, goAfter, (goAfter-goBefore)/float64(clients)
	return r
}
