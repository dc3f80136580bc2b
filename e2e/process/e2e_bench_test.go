package process

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/e2e"
)

// The end-to-end benchmarks run a ticketstream server as its own
// process on PostgreSQL, with the clients in this process, both on this
// machine's 2 cores. They take minutes (they seed up to a million tickets),
// so CI does not run them:
//
//	go test -run '^$' -bench E2E -benchtime 1x -timeout 30m -v ./e2e/process

// seedDatabase returns a fresh PostgreSQL database holding n demo tickets,
// written by the seed command (COPY).
func seedDatabase(b *testing.B, n int) string {
	b.Helper()
	db := pgtest.NewDatabase(b)
	out, err := exec.Command(e2e.Binary(b), "seed", "--count", strconv.Itoa(n), "--database", db).CombinedOutput()
	if err != nil {
		b.Fatalf("seed: %v\n%s", err, out)
	}
	return db
}

// benchClient reads responses through a large buffer, as curl does: the
// default 4KB one would spend the CPU the server shares on read calls.
var benchClient = &http.Client{Transport: &http.Transport{ReadBufferSize: 256 << 10, DisableCompression: true}}

// fetchREST reads one REST response of the filter whole and returns its
// rows and bytes.
func fetchREST(b *testing.B, addr, filter string) (rows int, n int64) {
	resp, err := benchClient.Get("http://" + addr + "/v1/tickets?" + filter)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("REST: %d", resp.StatusCode)
	}
	buf := make([]byte, 256<<10)
	var t []byte
	for {
		k, err := resp.Body.Read(buf)
		n += int64(k)
		if k > 0 {
			t = append(t[:0], buf[max(0, k-512):k]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatalf("REST: %v", err)
		}
	}
	i := bytes.LastIndex(t, []byte(`"count":`))
	if i < 0 {
		b.Fatalf("REST: no count at the end: %q", t)
	}
	rows, _ = strconv.Atoi(string(t[i+8 : i+8+bytes.IndexAny(t[i+8:], ",}")]))
	return rows, n
}

// fetchSocket reads one WebSocket snapshot of the filter until its end
// message and returns its rows and bytes.
func fetchSocket(b *testing.B, addr, filter string) (rows int, n int64) {
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/v1/stream?"+filter, &websocket.DialOptions{Subprotocols: []string{"ticketstream.v1"}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(16 << 20)
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(data))
		if bytes.HasPrefix(data, []byte(`{"type":"end"`)) {
			return rows, n
		}
		if bytes.HasPrefix(data, []byte(`{"type":"snapshot"`)) {
			i := bytes.Index(data, []byte(`"rows":`)) + 7
			k := 0
			for ; data[i] >= '0' && data[i] <= '9'; i++ {
				k = k*10 + int(data[i]-'0')
			}
			rows += k
		}
	}
}

const ticketSelect = `SELECT id, team, subject, status, priority, requester, assignee, tags, created_at, updated_at FROM tickets ORDER BY updated_at, id`

// rawPgxEncode is the limit: pgx scanning the rows and our encoder
// writing them into 32KB chunks, with no HTTP and no network but
// PostgreSQL's.
func rawPgxEncode(b *testing.B, conn *pgx.Conn, limit int) (rows int, n int64) {
	r, err := conn.Query(context.Background(), ticketSelect+` LIMIT $1`, limit)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var t domain.Ticket
	buf := make([]byte, 0, 50<<10)
	for r.Next() {
		if err := r.Scan(&t.ID, &t.Team, &t.Subject, (*string)(&t.Status), (*string)(&t.Priority), &t.Requester, &t.Assignee, &t.Tags, &t.CreatedAt, &t.UpdatedAt); err != nil {
			b.Fatal(err)
		}
		if len(buf) > 0 {
			buf = append(buf, ',')
		}
		if buf, err = app.AppendTicket(buf, &t); err != nil {
			b.Fatal(err)
		}
		rows++
		if len(buf) > 32<<10 {
			n += int64(len(buf))
			buf = buf[:0]
		}
	}
	if err := r.Err(); err != nil {
		b.Fatal(err)
	}
	return rows, n + int64(len(buf))
}

// rowToJSON is what a user might pick instead: PostgreSQL producing each
// row's JSON (row_to_json, as PostgREST does), read as raw bytes.
func rowToJSON(b *testing.B, conn *pgx.Conn, limit int) (rows int, n int64) {
	r, err := conn.Query(context.Background(), `SELECT row_to_json(t)::text FROM (`+ticketSelect+` LIMIT $1) t`, limit)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		n += int64(len(r.RawValues()[0]))
		rows++
	}
	if err := r.Err(); err != nil {
		b.Fatal(err)
	}
	return rows, n
}

// BenchmarkE2E_OneShot200k: 200,000 tickets from PostgreSQL through
// ticketstream's REST API and through a WebSocket snapshot, against raw
// pgx + our encoder (the limit) and row_to_json (the alternative), in
// interleaved rounds; it reports the median of each.
func BenchmarkE2E_OneShot200k(b *testing.B) {
	const n = 200_000
	db := seedDatabase(b, n)
	p := e2e.StartProcess(b, "--database", db, "--demo-tickets", "0", "--max-rows", strconv.Itoa(n))
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	filter := "limit=" + strconv.Itoa(n)
	readers := []struct {
		name string
		read func() (int, int64)
	}{
		{"rest", func() (int, int64) { return fetchREST(b, p.Addr, filter) }},
		{"websocket", func() (int, int64) { return fetchSocket(b, p.Addr, filter) }},
		{"pgx+encoder", func() (int, int64) { return rawPgxEncode(b, conn, n) }},
		{"row_to_json", func() (int, int64) { return rowToJSON(b, conn, n) }},
	}
	for _, r := range readers { // warm every path once
		r.read()
	}
	rates := map[string][]float64{}
	mbs := map[string][]float64{}
	cpu := map[string]*cpuShares{}
	for _, r := range readers {
		cpu[r.name] = new(cpuShares)
	}
	const rounds = 9
	b.ResetTimer()
	for range b.N {
		for round := range rounds {
			for i := range readers {
				r := readers[(i+round)%len(readers)] // rotate who goes first
				before := readCPUShares(b, p.Pid())
				start := time.Now()
				rows, bytes := r.read()
				d := time.Since(start).Seconds()
				cpu[r.name].add(before, readCPUShares(b, p.Pid()), d)
				if rows != n {
					b.Fatalf("%s read %d rows, want %d", r.name, rows, n)
				}
				rates[r.name] = append(rates[r.name], float64(rows)/d)
				mbs[r.name] = append(mbs[r.name], float64(bytes)/1e6/d)
			}
		}
	}
	median := func(x []float64) float64 {
		s := slices.Sorted(slices.Values(x))
		return s[len(s)/2]
	}
	for _, r := range readers {
		b.ReportMetric(median(rates[r.name]), r.name+"-rows/s")
	}
	rest, ws, limit, pg := median(rates["rest"]), median(rates["websocket"]), median(rates["pgx+encoder"]), median(rates["row_to_json"])
	b.ReportMetric(median(mbs["rest"]), "rest-MB/s")
	b.ReportMetric(100*rest/limit, "%-of-pgx+encoder")
	b.ReportMetric(rest/pg, "x-row_to_json")
	b.ReportMetric(ws/rest, "websocket/rest")
	b.Logf("200,000 tickets, medians of %d interleaved rounds: REST %.0f rows/s (%.1f MB/s), WebSocket %.0f rows/s (%.1f MB/s), raw pgx + encoder %.0f rows/s, row_to_json %.0f rows/s: REST = %.1f%% of the limit, %.2f× row_to_json; WebSocket = %.2f× REST",
		rounds, rest, median(mbs["rest"]), ws, median(mbs["websocket"]), limit, pg, 100*rest/limit, rest/pg, ws/rest)
	// The same ratio round by round (REST and the limit a few seconds
	// apart): how far single measurements swing on this machine.
	byRound := make([]float64, len(rates["rest"]))
	for i := range byRound {
		byRound[i] = 100 * rates["rest"][i] / rates["pgx+encoder"][i]
	}
	b.Logf("REST as a share of the limit round by round: %s", percents(byRound))
	for _, r := range readers {
		b.Logf("%-12s CPU per run, mean of %d: %s", r.name, rounds, cpu[r.name].mean())
	}
}

// percents formats shares as "81.2% 79.0% …".
func percents(x []float64) string {
	var b []byte
	for i, v := range x {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendFloat(b, v, 'f', 1, 64)
		b = append(b, '%')
	}
	return string(b)
}

// cpuShares sums, over the runs of one reader, the wall time and the CPU
// used by the server, by PostgreSQL and by this (the client's) process:
// on 2 cores the three share, they say where a run's time went.
type cpuShares struct {
	runs                           int
	wall, server, postgres, client time.Duration
}

// cpuReading is one reading of the three processes' CPU.
type cpuReading struct{ server, postgres, client time.Duration }

func readCPUShares(b *testing.B, serverPid int) cpuReading {
	return cpuReading{cpuTime(b, serverPid), postgresCPU(b), cpuTime(b, os.Getpid())}
}

func (c *cpuShares) add(before, after cpuReading, seconds float64) {
	c.runs++
	c.wall += time.Duration(seconds * float64(time.Second))
	c.server += after.server - before.server
	c.postgres += after.postgres - before.postgres
	c.client += after.client - before.client
}

func (c *cpuShares) mean() string {
	n := time.Duration(max(c.runs, 1))
	ms := func(d time.Duration) string { return strconv.FormatInt((d/n).Milliseconds(), 10) + " ms" }
	return fmt.Sprintf("wall %s; server %s, postgres %s, client %s (of 2 cores × wall = %s)",
		ms(c.wall), ms(c.server), ms(c.postgres), ms(c.client), ms(2*c.wall))
}

// postgresCPU sums the CPU used so far by every process of this machine's
// PostgreSQL server (postmaster, backends and helpers).
func postgresCPU(b *testing.B) time.Duration {
	b.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	var sum time.Duration
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || string(bytes.TrimSpace(comm)) != "postgres" {
			continue // not PostgreSQL, or gone since the listing
		}
		if t, ok := procCPU(pid); ok {
			sum += t
		}
	}
	return sum
}

// peakRSS resets a process's peak resident set (clear_refs 5) and returns
// a func that reads the peak since, in MB.
func peakRSS(b *testing.B, pid int) func() float64 {
	b.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		b.Fatalf("reset the peak RSS: %v", err)
	}
	return func() float64 { return procStatusKB(b, pid, "VmHWM") / 1024 }
}

// BenchmarkE2E_ConcurrentSnapshots: 1, 10 and 100 dashboards loading
// 10,000 tickets each at the same moment: aggregate rows/s, and the
// server's peak RSS above its idle RSS — which must grow sub-linearly with
// the clients, the pool sharing buffers between streams.
func BenchmarkE2E_ConcurrentSnapshots(b *testing.B) {
	const rows = 10_000
	db := seedDatabase(b, rows)
	p := e2e.StartProcess(b, "--database", db, "--demo-tickets", "0")
	// Warm the code paths with a small snapshot: a full one would leave
	// its garbage in the idle figure (an idle server allocates nothing,
	// so nothing makes it collect), and every step would be measured
	// against a heap already grown by a stream.
	if got, _ := fetchSocket(b, p.Addr, "limit=10"); got != 10 {
		b.Fatalf("warm-up snapshot of %d rows, want 10", got)
	}
	time.Sleep(time.Second)
	idle := rssKB(b, p.Pid()) / 1024
	var perClient1 float64
	for _, k := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("clients=%d", k), func(b *testing.B) {
			for range b.N {
				peak := peakRSS(b, p.Pid())
				var wg sync.WaitGroup
				start := time.Now()
				for range k {
					wg.Go(func() {
						if got, _ := fetchSocket(b, p.Addr, ""); got != rows {
							b.Errorf("a snapshot of %d rows, want %d", got, rows)
						}
					})
				}
				wg.Wait()
				d := time.Since(start)
				growth := peak() - idle
				if k == 1 {
					perClient1 = growth
				}
				b.ReportMetric(float64(k*rows)/d.Seconds(), "rows/s")
				b.ReportMetric(growth, "peak-MB-above-idle")
				b.Logf("%3d dashboards × %d tickets: %.0f rows/s in all, server peak RSS %.1f MB (%.1f MB above idle; %.2f× the growth of one dashboard for %d× the dashboards)",
					k, rows, float64(k*rows)/d.Seconds(), growth+idle, growth, growth/max(perClient1, 0.1), k)
				time.Sleep(2 * time.Second) // let the server return memory between steps
			}
		})
	}
}

// BenchmarkE2E_REST1M: a million tickets through one REST response, with
// the server's peak RSS beside that of a 10,000-ticket response: flat.
func BenchmarkE2E_REST1M(b *testing.B) {
	const n = 1_000_000
	db := seedDatabase(b, n)
	p := e2e.StartProcess(b, "--database", db, "--demo-tickets", "0", "--max-rows", strconv.Itoa(n))
	fetchREST(b, p.Addr, "limit=10000") // warm
	time.Sleep(time.Second)
	for range b.N {
		peak := peakRSS(b, p.Pid())
		fetchREST(b, p.Addr, "limit=10000")
		small := peak()
		time.Sleep(time.Second)
		peak = peakRSS(b, p.Pid())
		start := time.Now()
		rows, bytes := fetchREST(b, p.Addr, "limit="+strconv.Itoa(n))
		d := time.Since(start)
		large := peak()
		if rows != n {
			b.Fatalf("%d rows, want %d", rows, n)
		}
		b.ReportMetric(float64(n)/d.Seconds(), "rows/s")
		b.ReportMetric(small, "peak-RSS-MB-10k")
		b.ReportMetric(large, "peak-RSS-MB-1M")
		b.Logf("REST: 10,000 tickets with the server's RSS peaking at %.1f MB; 1,000,000 tickets (%.0f MB of JSON, %.0f rows/s) peaking at %.1f MB",
			small, float64(bytes)/1e6, float64(n)/d.Seconds(), large)
	}
}
