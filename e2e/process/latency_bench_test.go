package process

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/e2e"
)

// BenchmarkLiveLatency measures the time from a
// change's commit (the writer's COMMIT returning) to its arrival at every
// connected dashboard, with 1, 100, 1,000 and 10,000 dashboards on this
// machine, server and clients sharing its 2 cores as in the Centrifugo
// measurement (20 tickets of about 400 bytes of JSON, one changed every
// 100ms; every dashboard's filter matches them); and the server's memory per idle connection: the growth of
// its heap and goroutine stacks in use (after a GC, read through its
// profiler) while the dashboards connect, divided by their number — and,
// beside it, the growth of its RSS, which also holds garbage and pages the
// runtime has not returned yet. Run it once:
//
//	go test -run '^$' -bench LiveLatency -benchtime 1x -timeout 30m ./e2e/process
func BenchmarkLiveLatency(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			for range b.N {
				r := measureLiveLatency(b, latencyRun{clients: n, changes: 20, every: 100 * time.Millisecond})
				b.ReportMetric(r.p50.Seconds()*1000, "p50-ms")
				b.ReportMetric(r.p99.Seconds()*1000, "p99-ms")
				b.ReportMetric(r.max.Seconds()*1000, "max-ms")
				if n >= 100 {
					b.ReportMetric(r.kbPerConn, "KB/conn")
					b.ReportMetric(r.rssPerConn, "RSS-KB/conn")
				}
				b.Logf("%d dashboards: commit→client p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d deliveries; server heap+stacks after GC %.1f → %.1f MB (%.1f KB per idle connection), RSS %.1f → %.1f MB (%.1f KB per connection); CPU while publishing: server %.2fs, dashboards %.2fs",
					n, r.p50.Seconds()*1000, r.p99.Seconds()*1000, r.max.Seconds()*1000, r.deliveries,
					r.goBefore/1024, r.goAfter/1024, r.kbPerConn, r.rssBefore/1024, r.rssAfter/1024, r.rssPerConn, r.serverCPU.Seconds(), r.clientCPU.Seconds())
			}
		})
	}
}

// BenchmarkLiveEveryVersion changes one ticket 20 times at 10/s and
// measures commit→dashboard latency over the versions that arrive, and how
// many never do (merged into a later one, because both had committed
// before a read): quiet, and with a writing transaction held open in
// another database of the server all along — which once held every
// dashboard back until it ended. Run it once:
//
//	go test -run '^$' -bench LiveEveryVersion -benchtime 1x -timeout 30m ./e2e/process
func BenchmarkLiveEveryVersion(b *testing.B) {
	for _, c := range []struct {
		clients int
		open    bool
	}{{1000, false}, {1000, true}, {10000, false}} {
		name := fmt.Sprintf("clients=%d/quiet", c.clients)
		if c.open {
			name = fmt.Sprintf("clients=%d/open-elsewhere", c.clients)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				r := measureLiveLatency(b, latencyRun{clients: c.clients, changes: 20, every: 100 * time.Millisecond, oneTicket: true, openElsewhere: c.open})
				b.ReportMetric(r.p50.Seconds()*1000, "p50-ms")
				b.ReportMetric(r.p99.Seconds()*1000, "p99-ms")
				b.ReportMetric(float64(r.merged), "versions-merged")
				b.Logf("%s: one ticket changed 20 times at 10/s, commit→client p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d deliveries (first client: median %.1f ms); %d of %d versions merged (never delivered): the server read %d of the 20 versions, and dashboards' queues replaced %d by newer ones",
					name, r.p50.Seconds()*1000, r.p99.Seconds()*1000, r.max.Seconds()*1000, r.deliveries, ms(median(r.first)), r.merged, c.clients*20, r.hubRead, r.coalesced)
			}
		})
	}
}

// BenchmarkLiveLatencyWindows is BenchmarkLiveLatency at 1,000 dashboards
// holding live windows (sort=-updated_at&window=50, newest first) beside
// the same dashboards holding the whole filter, in one run: each change
// moves a ticket to the top of every window. It also reports the database
// reads the windows made (ticketstream_live_window_reads_total) and the
// memory per dashboard.
//
//	go test -run '^$' -bench LiveLatencyWindows -benchtime 1x -timeout 30m ./e2e/process
func BenchmarkLiveLatencyWindows(b *testing.B) {
	for _, window := range []int{0, 50} {
		name := "whole-filter"
		if window > 0 {
			name = fmt.Sprintf("window=%d", window)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				r := measureLiveLatency(b, latencyRun{clients: 1000, changes: 20, every: 100 * time.Millisecond, window: window})
				b.ReportMetric(r.p50.Seconds()*1000, "p50-ms")
				b.ReportMetric(r.p99.Seconds()*1000, "p99-ms")
				b.ReportMetric(r.kbPerConn, "KB/conn")
				b.Logf("%s, 1,000 dashboards: commit→client p50 %.1f ms, p99 %.1f ms over %d deliveries; %.1f KB per dashboard (heap+stacks); server CPU %.2fs; window reads %d (%d while publishing)",
					name, r.p50.Seconds()*1000, r.p99.Seconds()*1000, r.deliveries, r.kbPerConn, r.serverCPU.Seconds(), r.windowReads, r.windowReadsPublishing)
			}
		})
	}
}

// BenchmarkLiveLatencyCompression is BenchmarkLiveLatency at 1,000 and
// 10,000 dashboards with and without permessage-deflate negotiated, in
// one run, so that the two compare on the same machine at the same time:
// live changes go out uncompressed by default, so the fan-out should cost
// the same; the idle socket's memory shows what negotiating costs it.
//
//	go test -run '^$' -bench LiveLatencyCompression -benchtime 1x -timeout 30m ./e2e/process
func BenchmarkLiveLatencyCompression(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, deflate := range []bool{false, true} {
			name := fmt.Sprintf("clients=%d/plain", n)
			if deflate {
				name = fmt.Sprintf("clients=%d/deflate", n)
			}
			b.Run(name, func(b *testing.B) {
				for range b.N {
					r := measureLiveLatency(b, latencyRun{clients: n, changes: 20, every: 100 * time.Millisecond, plain: !deflate})
					b.ReportMetric(r.p50.Seconds()*1000, "p50-ms")
					b.ReportMetric(r.p99.Seconds()*1000, "p99-ms")
					b.ReportMetric(r.kbPerConn, "KB/conn")
					b.Logf("%s: commit→client p50 %.1f ms, p99 %.1f ms over %d deliveries; %.1f KB per idle connection (heap+stacks), RSS %.1f KB per connection; server CPU %.2fs",
						name, r.p50.Seconds()*1000, r.p99.Seconds()*1000, r.deliveries, r.kbPerConn, r.rssPerConn, r.serverCPU.Seconds())
				}
			})
		}
	}
}

// latencyRun is one measurement's setting.
type latencyRun struct {
	// plain: the dashboards do not offer permessage-deflate (by default
	// they do, as browsers and wsclient do).
	plain            bool
	clients, changes int
	every            time.Duration
	// oneTicket changes one ticket every time (versions that commit
	// before one read are merged), rather than one ticket per change.
	oneTicket bool
	// openElsewhere holds a writing transaction open in another database
	// of the server from before the dashboards connect until the end.
	openElsewhere bool
	// window, when set, makes every dashboard hold a live window of that
	// many rows, newest first, rather than the whole filter.
	window int
}

type latencyResult struct {
	p50, p99, max time.Duration
	deliveries    int
	merged        int // versions that never arrived (oneTicket)
	// hubRead counts the changes the server read from the feed (fewer than
	// the commits: versions merged before a read), coalesced those a
	// dashboard's queue replaced by a newer one before sending it.
	hubRead, coalesced int
	// windowReads are the windows' database reads in all,
	// windowReadsPublishing those while the changes went out.
	windowReads, windowReadsPublishing int
	rssBefore, rssAfter                float64       // KB
	serverCPU, clientCPU               time.Duration // spent while the changes were published and delivered
	rssPerConn                         float64
	goBefore, goAfter                  float64         // KB of heap and stacks in use after a GC
	kbPerConn                          float64         // from the Go runtime's figures
	samples                            []time.Duration // every delivery's latency, sorted
	// first holds, for each change that arrived, its earliest arrival at
	// any client (after the commit, floored at 0): the part of the latency
	// before the fan-out (for ticketstream, the wait for a read, and the
	// read).
	first []time.Duration
	// fromCall and firstFromCall are samples and first measured from the
	// start of the writer's statement or the publish call rather than its
	// return (LatencyFloor only).
	fromCall, firstFromCall []time.Duration
}

func measureLiveLatency(b *testing.B, run latencyRun) latencyResult {
	b.Helper()
	clients, changes, every := run.clients, run.changes, run.every
	ctx := context.Background()
	db := pgtest.NewDatabase(b)
	if run.openElsewhere {
		pgtest.HoldWriterElsewhere(b)
	}
	args := []string{"--database", db, "--demo-tickets", "0", "--max-connections", "20000", "--max-connections-per-address", "20000", "--profiler"}
	if pi := os.Getenv("LATENCY_POLL_INTERVAL"); pi != "" { // to weigh --poll-interval
		args = append(args, "--poll-interval", pi)
	}
	// As docs/deploy/ticketstream.service runs it: goroutines start with
	// fixed 2 KB stacks (LATENCY_GODEBUG= weighs the runtime's default).
	godebug := "adaptivestackstart=0"
	if v, ok := os.LookupEnv("LATENCY_GODEBUG"); ok {
		godebug = v
	}
	p := e2e.StartProcessWithEnv(b, []string{"GODEBUG=" + godebug}, args...)
	debugAddr := p.Internal
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	// One ticket per change, so that a dashboard behind by more than the
	// publishing interval gets every change rather than coalesced ones.
	subject := strings.Repeat("Printer on floor 3 jams on every duplex job since the driver update ", 3)
	if _, err := conn.Exec(ctx, `INSERT INTO tickets (id, team, subject, status, priority, requester, assignee, tags)
		SELECT g, 'latency', $1, 'open', 'high', 'someone@customer.example.com', 'agent@support.example.com', '{printer,hardware}'
		FROM generate_series(1, $2::int) g`, subject, changes); err != nil {
		b.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the server settles after start
	goBefore := goMemoryKB(b, debugAddr)
	before := rssKB(b, p.Pid())

	// Every dashboard records when each change arrives.
	ready := hasPrefix(`{"type":"end"`)
	if run.window > 0 {
		ready = hasPrefix(`{"type":"changes"`) // a window's first message
	}
	f, err := startFleet(ctx, clients, changes, fleetClient{
		dial: func(ctx context.Context) (*websocket.Conn, error) {
			var opts []wsclient.Option
			if run.plain {
				opts = append(opts, wsclient.WithoutCompression())
			}
			filter := "team=latency"
			if run.window > 0 {
				filter += fmt.Sprintf("&sort=-updated_at&window=%d", run.window)
			}
			c, err := wsclient.Dial(ctx, "ws://"+p.Addr, filter, "", &wsclient.View{}, opts...)
			if err != nil {
				return nil, err
			}
			return c.Conn, nil
		},
		ready: ready,
	})
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	arrivals := f.arrivals
	time.Sleep(time.Second)
	goAfter := idleGoMemoryKB(b, debugAddr)
	if file := os.Getenv("LATENCY_HEAP_PROFILE"); file != "" {
		saveProfile(b, "http://"+debugAddr+"/debug/pprof/heap?gc=1", file)
		saveProfile(b, "http://"+debugAddr+"/debug/pprof/goroutine?debug=1", file+".goroutines.txt")
	}
	after := idleRSSKB(b, p.Pid())

	profiled := profilePublishing(b, debugAddr, changes, every)
	serverCPU, clientCPU := cpuTime(b, p.Pid()), cpuTime(b, os.Getpid())
	readBefore, coalescedBefore := serverMetric(b, debugAddr, "ticketstream_live_changes_total"), serverMetric(b, debugAddr, "ticketstream_live_coalesced_total")
	windowReadsBefore := serverMetric(b, debugAddr, "ticketstream_live_window_reads_total")
	commits := make([]time.Time, changes)
	tick := time.NewTicker(every)
	for k := range changes {
		<-tick.C
		id := k + 1
		if run.oneTicket {
			id = 1
		}
		if _, err := conn.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = clock_timestamp() WHERE id = $2`, fmt.Sprintf("latency %d", k), id); err != nil {
			b.Fatal(err)
		}
		commits[k] = time.Now()
	}
	tick.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing := 0
		for i := range arrivals {
			for k := range changes {
				// One ticket: versions merged into a later one never come;
				// the last one must.
				if arrivals[i][k].IsZero() && (!run.oneTicket || k == changes-1) {
					missing++
				}
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d deliveries missing after 30s", missing, clients*changes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	serverCPU, clientCPU = cpuTime(b, p.Pid())-serverCPU, cpuTime(b, os.Getpid())-clientCPU
	hubRead := serverMetric(b, debugAddr, "ticketstream_live_changes_total") - readBefore
	coalesced := serverMetric(b, debugAddr, "ticketstream_live_coalesced_total") - coalescedBefore
	<-profiled
	f.close()

	r := latencies(arrivals, commits)
	r.hubRead, r.coalesced = int(hubRead), int(coalesced)
	windowReads := serverMetric(b, debugAddr, "ticketstream_live_window_reads_total")
	r.windowReads, r.windowReadsPublishing = int(windowReads), int(windowReads-windowReadsBefore)
	r.serverCPU, r.clientCPU = serverCPU, clientCPU
	r.rssBefore, r.rssAfter, r.rssPerConn = before, after, (after-before)/float64(clients)
	r.goBefore, r.goAfter, r.kbPerConn = goBefore, goAfter, (goAfter-goBefore)/float64(clients)
	return r
}

// latencies returns the percentiles of the arrivals after their commits,
// and how many changes never arrived.
func latencies(arrivals [][]time.Time, commits []time.Time) latencyResult {
	var lat []time.Duration
	merged := 0
	for i := range arrivals {
		for k, at := range arrivals[i] {
			if at.IsZero() {
				merged++
				continue
			}
			lat = append(lat, max(0, at.Sub(commits[k])))
		}
	}
	r := percentiles(lat)
	r.merged = merged
	for k := range commits {
		found, first := false, time.Duration(0)
		for i := range arrivals {
			if at := arrivals[i][k]; !at.IsZero() && (!found || at.Sub(commits[k]) < first) {
				found, first = true, at.Sub(commits[k])
			}
		}
		if found {
			r.first = append(r.first, max(0, first))
		}
	}
	return r
}

// median returns the median of ds, 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}

// percentiles returns the p50, p99 and max of the latencies lat (sorted
// in place), which it keeps as the result's samples.
func percentiles(lat []time.Duration) latencyResult {
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return latencyResult{p50: pct(0.50), p99: pct(0.99), max: lat[len(lat)-1], deliveries: len(lat), samples: lat}
}

// latencyMarker precedes the number of a change in the subject of the
// ticket a latency run changes.
var latencyMarker = []byte(`"subject":"latency `)

// markArrivals records now as the arrival of every change data names (by
// the number after latencyMarker) that row has room for.
func markArrivals(data []byte, now time.Time, row []time.Time) {
	for rest := data; ; {
		at := bytes.Index(rest, latencyMarker)
		if at < 0 {
			return
		}
		rest = rest[at+len(latencyMarker):]
		k := 0
		for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
			k = k*10 + int(rest[0]-'0')
			rest = rest[1:]
		}
		if k < len(row) {
			row[k] = now
		}
	}
}

// serverMetric reads one value of the server's /metrics.
func serverMetric(tb testing.TB, debugAddr, name string) float64 {
	tb.Helper()
	body := httpBody(tb, "http://"+debugAddr+"/metrics")
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	tb.Fatalf("no %s on the server's /metrics", name)
	return 0
}

// readMessage appends the next message's bytes to buf, growing it only
// when the message does not fit.
func readMessage(ctx context.Context, c *websocket.Conn, buf []byte) ([]byte, error) {
	_, r, err := c.Reader(ctx)
	if err != nil {
		return buf, err
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// idleGoMemoryKB is goMemoryKB once the server has settled: each GC halves
// a stack that uses under a quarter of it, and sync.Pool keeps what it
// holds for one GC more, so it collects until the figure stops falling —
// where an idle server stays.
func idleGoMemoryKB(tb testing.TB, debugAddr string) float64 {
	tb.Helper()
	kb := goMemoryKB(tb, debugAddr)
	for i := range 8 {
		next := goMemoryKB(tb, debugAddr)
		if next >= kb && i >= 1 {
			break
		}
		kb = min(kb, next)
	}
	return kb
}

// idleRSSKB is the RSS of process pid once it has stopped falling for 2s
// (at most 30s in all): the runtime returns freed pages to the OS
// gradually, a little at a time.
func idleRSSKB(tb testing.TB, pid int) float64 {
	tb.Helper()
	low, steady := rssKB(tb, pid), 0
	for range 60 {
		time.Sleep(500 * time.Millisecond)
		now := rssKB(tb, pid)
		if now > low*0.99 {
			steady++
		} else {
			steady = 0
		}
		low = min(low, now)
		if steady == 4 {
			break
		}
	}
	return low
}

// goMemoryKB forces a GC in the server (through its profiler) and returns
// the heap and goroutine stacks it then has in use, in KB: what its live
// objects and goroutines cost, without garbage or pages not yet returned.
func goMemoryKB(tb testing.TB, debugAddr string) float64 {
	tb.Helper()
	body := httpBody(tb, "http://"+debugAddr+"/debug/pprof/heap?gc=1&debug=1")
	var heap, stack float64
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
			heap, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, "# Stack = "); ok {
			stack, _ = strconv.ParseFloat(strings.Fields(v)[0], 64)
		}
	}
	if heap == 0 || stack == 0 {
		tb.Fatalf("no HeapInuse or Stack in the server's heap profile")
	}
	if os.Getenv("LATENCY_HEAP_PROFILE") != "" {
		tb.Logf("server heap in use %.1f KB, stacks %.1f KB", heap/1024, stack/1024)
	}
	return (heap + stack) / 1024
}

// saveServerProfile writes the server's CPU profile of the next seconds
// to path.
func saveServerProfile(tb testing.TB, debugAddr string, seconds int, path string) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debugAddr, seconds))
	if err != nil {
		tb.Errorf("server profile: %v", err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(unusedPath(path), data, 0o644)
	}
	if err != nil {
		tb.Errorf("server profile: %v", err)
	}
}

// profilePublishing saves, when LATENCY_CPU_PROFILE names a file, the
// CPU profile of the server at debugAddr over the publishing phase, to
// see where a fan-out's time goes; suffix parts follow the file's name.
// The channel closes once the profile is saved (at once without one).
func profilePublishing(tb testing.TB, debugAddr string, changes int, every time.Duration, suffix ...string) <-chan struct{} {
	done := make(chan struct{})
	path := os.Getenv("LATENCY_CPU_PROFILE")
	if path == "" {
		close(done)
		return done
	}
	path += strings.Join(suffix, "")
	go func() {
		defer close(done)
		saveServerProfile(tb, debugAddr, profileSeconds(changes, every), path)
	}()
	return done
}

// unusedPath returns path, or path.2, path.3 … if it exists: each run of
// a benchmark that runs a server more than once keeps its own profile.
func unusedPath(path string) string {
	p := path
	for n := 2; ; n++ {
		if _, err := os.Stat(p); err != nil {
			return p // none there (or none to be told of: writing will say)
		}
		p = fmt.Sprintf("%s.%d", path, n)
	}
}

// profileSeconds is how long a CPU profile of the publishing phase runs:
// every change and the fan-out of the last, and a second more.
func profileSeconds(changes int, every time.Duration) int {
	return int(math.Ceil((time.Duration(changes+1) * every).Seconds())) + 1
}

// cpuTime reads the user and system CPU time a process has used so far
// from /proc (in clock ticks of 10ms).
func cpuTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	t, ok := procCPU(pid)
	if !ok {
		tb.Fatalf("no CPU time of process %d in /proc", pid)
	}
	return t
}

// procCPU reads a process's user and system CPU time from /proc; false if
// the process is gone or its stat is unreadable.
func procCPU(pid int) (time.Duration, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th of them.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		return 0, false
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, true
}

// rssKB reads a process's resident set size in KB from /proc.
func rssKB(tb testing.TB, pid int) float64 { return procStatusKB(tb, pid, "VmRSS") }

// procStatusKB reads a size field (VmRSS, VmHWM, …) of a process's
// /proc status, in KB.
func procStatusKB(tb testing.TB, pid int, field string) float64 {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb
		}
	}
	tb.Fatalf("no %s in /proc status", field)
	return 0
}

// httpBody GETs url and returns the body, failing tb on an error.
func httpBody(tb testing.TB, url string) []byte {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// saveProfile writes the profile served at url to file, for a look at
// where the server's memory went (go tool pprof -sample_index=inuse_space).
func saveProfile(tb testing.TB, url, file string) {
	tb.Helper()
	if err := os.WriteFile(file, httpBody(tb, url), 0o644); err != nil {
		tb.Fatal(err)
	}
}
