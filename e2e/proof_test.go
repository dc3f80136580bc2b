package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// replica is one server process's worth of ticketstream, restartable on
// the same address and database.
type replica struct {
	t    *testing.T
	url  string
	addr string
	opts replicaOptions
	mu   sync.Mutex
	stop func() error
	// internal serves the running server's /metrics; resumed counts the
	// resumes of the servers stopped before it, by how they resumed.
	internal http.Handler
	resumed  map[string]int
}

// replicaOptions are the settings a proof runs its replicas with.
type replicaOptions struct {
	// jwtSecret turns token checks on.
	jwtSecret string
	// batchSize, when set, is both the snapshot's and the change feed's
	// batch: small, every bulk change is read in many pages.
	batchSize int
}

func newReplica(t *testing.T, dbURL string, demo int, opts replicaOptions) *replica {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{t: t, url: dbURL, addr: ln.Addr().String(), opts: opts}
	r.start(ln, demo)
	t.Cleanup(func() {
		if err := r.shutdown(); err != nil {
			t.Errorf("replica %s stopped with %v", r.addr, err)
		}
	})
	return r
}

func (r *replica) start(ln net.Listener, demo int) {
	r.t.Helper()
	var err error
	if ln == nil {
		for range 50 { // the old listener's port may take a moment to free
			if ln, err = net.Listen("tcp", r.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			r.t.Fatal(err)
		}
	}
	cfg := ticketstream.Config{
		Database: gormstore.Config{URL: r.url, Migrate: true},
		Server:   ticketstream.ServerConfig{Addr: r.addr, DemoTickets: demo, ShutdownTimeout: 5 * time.Second, JWTSecret: r.opts.jwtSecret},
		Stream:   app.Config{BatchSize: r.opts.batchSize},
		Live:     app.HubConfig{BatchSize: r.opts.batchSize},
	}
	srv, cleanup, err := ticketstream.InitializeServer(context.Background(), cfg, proofServerLog(r.t, r.addr))
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	r.mu.Lock()
	r.internal = srv.Internal
	r.stop = func() error {
		cancel()
		err := <-done
		cleanup()
		if n := srv.App.Streamer.PoolStats().InUse(); n != 0 {
			err = errors.Join(err, fmt.Errorf("%d snapshot buffers in use after shutdown", n))
		}
		if n := srv.Hub.PoolStats().InUse(); n != 0 {
			err = errors.Join(err, fmt.Errorf("%d change buffers in use after shutdown", n))
		}
		return err
	}
	r.mu.Unlock()
	WaitReady(r.t, "http://"+r.addr)
}

// proofServerLog is where a replica logs: nowhere, unless
// TICKETSTREAM_PROOF_SERVER_LOG names a directory, where each replica
// writes a file named after its address and test, to read beside a failed
// proof's traces.
func proofServerLog(t *testing.T, addr string) *slog.Logger {
	dir := os.Getenv("TICKETSTREAM_PROOF_SERVER_LOG")
	if dir == "" {
		return nil
	}
	name := strings.NewReplacer("/", "_", ":", "_").Replace(t.Name() + "-" + addr)
	f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (r *replica) shutdown() error {
	resumed := r.resumes()
	r.mu.Lock()
	stop := r.stop
	r.stop, r.resumed = nil, resumed
	r.mu.Unlock()
	if stop == nil {
		return nil
	}
	return stop()
}

// resumes returns how many subscriptions resumed on this replica, by how
// (ticketstream_websocket_resumes_total), across its restarts.
func (r *replica) resumes() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := maps.Clone(r.resumed)
	if out == nil {
		out = map[string]int{}
	}
	if r.stop == nil {
		return out
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Host = "127.0.0.1"
	r.internal.ServeHTTP(rec, req)
	const prefix = `ticketstream_websocket_resumes_total{how="`
	for line := range strings.Lines(rec.Body.String()) {
		how, value, ok := strings.Cut(strings.TrimPrefix(line, prefix), `"} `)
		if !ok || !strings.HasPrefix(line, prefix) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil {
			r.t.Errorf("replica %s: /metrics: %q: %v", r.addr, line, err)
		}
		out[how] += n
	}
	return out
}

func (r *replica) restart() {
	if err := r.shutdown(); err != nil {
		r.t.Errorf("restart: %v", err)
	}
	r.start(nil, 0)
}

// proofFilters are the dashboards' filters, spread like real ones.
var proofFilters = []string{
	"", "team=billing", "status=open,pending", "priority=urgent,high", "team=technical&status=new,open",
	"team=security,accounts", "status=new", "", "team=enterprise&priority=urgent", "status=solved,closed",
	"team=billing&status=open", "priority=low",
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// proofSecret signs the dashboards' tokens.
const proofSecret = "proof-secret-proof-secret-proof-secret"

// proofScoped are the dashboards whose tokens grant only some teams: they
// connect beside the others and must hear of nothing outside their teams.
var proofScoped = []struct {
	teams  []string
	filter string
}{
	{[]string{"billing"}, ""},
	{[]string{"billing"}, ""},
	{[]string{"billing"}, "status=open,pending"},
	{[]string{"billing"}, "priority=urgent,high"},
	{[]string{"billing"}, "team=billing&status=new,open"},
	{[]string{"billing", "accounts"}, ""},
	{[]string{"billing", "accounts"}, "status=new"},
}

// proofVariant is one world the proof runs in.
type proofVariant struct {
	name    string
	dialect gormstore.Dialect
	// batchSize is the servers' snapshot and feed batch; 0 for the default.
	batchSize int
}

// The least writing a proof does, however long it takes on a loaded
// machine: small transactions, and bulk statements (fewer on SQLite, where
// one takes seconds under -race).
const (
	proofMinCommits = 30
	proofMinBulks   = 3
)

// proofHold is how long the proof's long writer holds each of its
// transactions open.
const proofHold = 3 * time.Second

// TestProof_NothingLostDuplicatedOrReordered is the live-push proof:
// writers whose transactions overlap and commit out of order — one holds
// each of its transactions open for seconds, and on PostgreSQL another
// database of the server keeps a writing transaction open throughout — bulk
// statements that change thousands of tickets at once, dashboards for
// every team and for one or two, all dropping and resuming at random
// across two replicas, one replica restarted. Every dashboard must end
// equal to the database for its filter and scope, with nothing received
// twice or out of order; a scoped dashboard must hear of no ticket outside
// its teams; and every message carrying counts must describe the view that
// applied it. One variant reads in small batches, so that every bulk
// change is read from the feed in many pages.
func TestProof_NothingLostDuplicatedOrReordered(t *testing.T) {
	t.Parallel()
	for _, v := range []proofVariant{
		{name: "sqlite", dialect: gormstore.SQLite},
		{name: "postgres", dialect: gormstore.Postgres},
		{name: "postgres-batch-50", dialect: gormstore.Postgres, batchSize: 50},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			runProof(t, v, 6*time.Second)
		})
	}
}

func runProof(t *testing.T, v proofVariant, writeFor time.Duration) {
	ctx := context.Background()
	d := v.dialect
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "proof.db")
	if d == gormstore.Postgres {
		dbURL = pgtest.NewDatabase(t)
	}
	// Enough tickets that a bulk statement over most teams changes
	// thousands of them. SQLite's driver is Go code that -race instruments
	// whole: a statement there costs milliseconds a row, so its bulk
	// statements change fewer.
	seeded, minBulks := 4000, proofMinBulks
	if d == gormstore.SQLite {
		seeded, minBulks = 2500, 2
	}
	opts := replicaOptions{jwtSecret: proofSecret, batchSize: v.batchSize}
	first := newReplica(t, dbURL, seeded, opts)
	replicas := []*replica{first}
	if d == gormstore.Postgres { // replicas share a server database
		replicas = append(replicas, newReplica(t, dbURL, 0, opts))
	}
	store, closeStore, err := gormstore.Open(ctx, gormstore.Config{URL: dbURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()

	ids := make([]int64, 0, seeded)
	for _, tk := range demodata.New(1).Tickets(seeded) {
		ids = append(ids, tk.ID)
	}
	var writers []writer
	bulk := &bulkWriter{}
	for i := range 5 {
		if d == gormstore.Postgres {
			c, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if i == 4 {
				bulk.pg = c
				break
			}
			w := &pgWriter{conn: c}
			if i == 3 {
				w.hold = proofHold // a transaction held open for seconds
			}
			writers = append(writers, w)
		} else {
			db, err := store.Gorm().DB()
			if err != nil {
				t.Fatal(err)
			}
			if i == 4 {
				bulk.db = db
				break
			}
			writers = append(writers, &sqliteWriter{db: db})
		}
	}

	clients := make([]*proofClient, 0, 28+len(proofScoped))
	all := issueToken(t, []string{jwtauth.AllTeams})
	for i := range 24 {
		clients = append(clients, &proofClient{filter: proofFilters[i%len(proofFilters)], token: all, readBack: i%5 == 4})
	}
	for i, s := range proofScoped {
		clients = append(clients, &proofClient{filter: s.filter, token: issueToken(t, s.teams), teams: s.teams, readBack: i%2 == 1})
	}
	for _, f := range []string{"", "status=open,pending", "priority=urgent,high"} {
		clients = append(clients, &proofClient{filter: f, token: all, steady: true})
	}
	clients = append(clients, &proofClient{filter: "", token: issueToken(t, []string{"billing"}), teams: []string{"billing"}, steady: true})
	windows := newProofWindows(t, all, func(teams []string) string { return issueToken(t, teams) })
	clientCtx, stopClients := context.WithCancel(ctx)
	settle := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(clients)+len(writers)+1)
	for i, pc := range clients {
		wg.Go(func() {
			if err := pc.run(clientCtx, rand.New(rand.NewPCG(uint64(i), 7)), replicas, settle); err != nil {
				errs <- err
			}
		})
	}
	for i, wc := range windows {
		wg.Go(func() { wc.run(clientCtx, rand.New(rand.NewPCG(uint64(i), 11)), replicas, settle) })
	}

	// Writing goes on for writeFor and until the writers have done enough
	// for the proof to prove something, which a loaded machine slows.
	writeCtx, stopWriting := context.WithTimeout(ctx, 90*time.Second)
	var nextID atomic.Int64
	nextID.Store(10_000_000)
	var commits atomic.Int64
	var ww sync.WaitGroup
	for i, w := range writers {
		ww.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			for writeCtx.Err() == nil {
				if err := w.change(writeCtx, rng, ids, nextID.Add(1)); err != nil {
					if writeCtx.Err() == nil && !retryable(err) {
						errs <- fmt.Errorf("writer %d: %w", i, err)
						return
					}
					continue
				}
				commits.Add(1)
			}
		})
	}
	var bulks []string
	var bulkCount atomic.Int64
	ww.Go(func() {
		for sleepCtx(writeCtx, writeFor); writeCtx.Err() == nil; sleepCtx(writeCtx, 100*time.Millisecond) {
			if commits.Load() >= proofMinCommits && bulkCount.Load() >= int64(minBulks) {
				stopWriting()
			}
		}
	})
	ww.Go(func() {
		rng := rand.New(rand.NewPCG(5, 99))
		// On SQLite a bulk statement holds the one write lock for seconds:
		// no more than needed, so that the small writers get their turn.
		for sleepCtx(writeCtx, time.Duration(300+rng.IntN(600))*time.Millisecond); writeCtx.Err() == nil && (d != gormstore.SQLite || bulkCount.Load() < int64(minBulks)); {
			// A bulk statement runs to its end even when writing stops, so
			// that none commits after the test reads the final state.
			start := time.Now()
			name, n, err := bulk.run(ctx, rng)
			if err != nil {
				if !retryable(err) {
					errs <- err
					return
				}
				continue
			}
			bulks = append(bulks, fmt.Sprintf("%s (%d tickets, %s)", name, n, time.Since(start).Round(time.Millisecond)))
			bulkCount.Add(1)
			sleepCtx(writeCtx, time.Duration(400+rng.IntN(600))*time.Millisecond)
		}
	})
	if d == gormstore.Postgres {
		// Another database of the server keeps a writing transaction open
		// the whole time: it must hold back nothing.
		pgtest.HoldWriterElsewhere(t)
	}
	began := time.Now()
	time.Sleep(writeFor / 2)
	restarting := time.Now()
	first.restart() // mid-way, with clients connected and writers writing
	t.Logf("replica restarted in %s", time.Since(restarting).Round(time.Millisecond))
	ww.Wait()
	stopWriting()
	wrote := time.Since(began)

	// Writers done: every dashboard reconnects once more and must converge.
	close(settle)
	tickets := readAll(t, store)
	want := make([][]domain.Ticket, len(clients))
	for i, pc := range clients {
		q, err := parseFilter(pc.filter)
		if err == nil && pc.teams != nil {
			q, err = domain.Scope{Teams: pc.teams}.Restrict(q)
		}
		if err != nil {
			t.Fatal(err)
		}
		want[i] = portstest.Select(tickets, q)
	}
	// Each view is compared on a copy: comparing under the client's lock
	// (thousands of tickets, over and over) kept a loaded machine's
	// clients from applying what they received, so that the check itself
	// held convergence back.
	byID := make(map[int64]domain.Ticket, len(tickets))
	for _, tk := range tickets {
		byID[tk.ID] = tk
	}
	wantWindows := make([][]int64, len(windows))
	wantTotals := make([]int, len(windows))
	for i, wc := range windows {
		wantWindows[i], wantTotals[i] = wc.want(tickets)
	}
	converged := func() bool {
		for i, wc := range windows {
			if !wc.matches(wantWindows[i], wantTotals[i], byID) {
				return false
			}
		}
		for i, pc := range clients {
			pc.mu.Lock()
			view := wsclient.View{Tickets: maps.Clone(pc.view.Tickets)}
			pc.mu.Unlock()
			if lostChanges(&view, want[i]) > 0 {
				return false
			}
		}
		return true
	}
	// Until the test binary's deadline nears (a busy machine is slow, not
	// wrong); what has not converged by then is reported as lost below.
	settling := time.Now()
	deadline, bounded := portstest.Deadline(t)
	if bounded {
		deadline = deadline.Add(-time.Minute) // room for the report
	}
	for !converged() && (!bounded || time.Now().Before(deadline)) {
		time.Sleep(200 * time.Millisecond)
	}
	settled := time.Since(settling)
	stopClients()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	teamOf := map[int64]string{}
	for _, tk := range tickets {
		teamOf[tk.ID] = tk.Team
	}
	lookup := func(id int64) (string, bool) { team, ok := teamOf[id]; return team, ok }
	former := formerTeams(t, store)

	var lost, duplicated, reordered, resumes, rows, changes, miscounted, counted, leaky, foreign int
	for i, pc := range clients {
		a := &pc.audit
		l := lostChanges(&pc.view, want[i])
		wrong := 0
		for _, n := range a.miscounted {
			wrong += n
		}
		t.Logf("%v: %d rows, %d changes, %d connections: lost %d, duplicated %d, out of order %d; counts wrong in %d of %d messages %v; ids heard of outside its scope %d",
			pc, pc.view.Counts.Rows, pc.view.Counts.Changes, pc.resumes.Load(), l, pc.view.Counts.Duplicates, pc.view.Counts.Regressions,
			wrong, a.countedMessages, a.miscounted, len(a.foreign))
		if l > 0 {
			t.Errorf("%v: its final view differs from the database in %d tickets: %s", pc, l, viewDiff(&pc.view, want[i], 3))
			for _, id := range wrongIDs(&pc.view, want[i], 3) {
				t.Logf("%v: ticket %d: database now %s; %s; heard: %s", pc, id, describe(tickets, id), positions(t, store, id), strings.Join(a.history[id], " | "))
			}
			t.Logf("%v: its connections: %s", pc, strings.Join(a.connLog, " | "))
		}
		if wrong > 0 {
			t.Errorf("%v: pushed counts differ from the view that applied them in %d of %d messages %v; e.g. %s",
				pc, wrong, a.countedMessages, a.miscounted, strings.Join(a.miscountExamples, " | "))
			t.Logf("%v: its connections: %s", pc, strings.Join(a.connLog, " | "))
		}
		if r := pc.foreignReport(lookup, former); r != "" {
			leaky++
			t.Error("leak: " + r)
		}
		lost += l
		duplicated += pc.view.Counts.Duplicates
		reordered += pc.view.Counts.Regressions
		resumes += int(pc.resumes.Load())
		rows += pc.view.Counts.Rows
		changes += pc.view.Counts.Changes
		counted += a.countedMessages
		foreign += len(a.foreign)
		if wrong > 0 {
			miscounted++
		}
	}
	windowsWrong, windowsBroken, windowConns, windowMessages := 0, 0, 0, 0
	for i, wc := range windows {
		wc.mu.Lock()
		ok := wc.total == wantTotals[i] && len(wc.rows) == len(wantWindows[i])
		for k := 0; ok && k < len(wc.rows); k++ {
			ok = wc.rows[k].ID == wantWindows[i][k] && portstest.DiffTicket(wc.rows[k], byID[wc.rows[k].ID]) == ""
		}
		var got []int64
		for _, r := range wc.rows {
			got = append(got, r.ID)
		}
		t.Logf("%v: %d connections, %d messages, at most %d rows held; final %v (total %d), database %v (total %d)",
			wc, wc.conns, wc.messages, wc.maxHeld, got, wc.total, wantWindows[i], wantTotals[i])
		if !ok {
			windowsWrong++
			t.Errorf("%v: its final window differs from ORDER BY … LIMIT on the database: %v (total %d), want %v (total %d)", wc, got, wc.total, wantWindows[i], wantTotals[i])
		}
		if len(wc.broken) > 0 {
			windowsBroken++
			t.Errorf("%v: broke the protocol's rules %d times, e.g. %v", wc, len(wc.broken), wc.broken[:min(3, len(wc.broken))])
		}
		windowConns += wc.conns
		windowMessages += wc.messages
		wc.mu.Unlock()
	}
	t.Logf("proof %s: %d live windows (%d scoped), %d connections, %d messages: %d differ from the database at the end, %d broke a rule (more rows than the window, a removal of a row not held, a row outside the filter or scope)",
		v.name, len(windows), 2, windowConns, windowMessages, windowsWrong, windowsBroken)
	resumed := map[string]int{}
	for _, r := range replicas {
		for how, n := range r.resumes() {
			resumed[how] += n
		}
	}
	t.Logf("proof %s: resumes on the replicas: %d claimed (nothing read back), %d read back, %d refused (resync)",
		v.name, resumed["claimed"], resumed["read_back"], resumed["resync"])
	if resumed["claimed"] == 0 || resumed["read_back"] == 0 {
		t.Errorf("resumes claimed %d, read back %d: the proof should take both ways", resumed["claimed"], resumed["read_back"])
	}
	held := ""
	if d == gormstore.Postgres {
		held = fmt.Sprintf(" (one writer holding each transaction open %s–%s, and a writing transaction open in another database throughout)", proofHold/2, proofHold)
	}
	t.Logf("proof %s: %d writer commits%s and %d bulk statements %v in %s (at least %s; the dashboards settled in %s), %d dashboards (%d scoped, 4 steady) on %d replica(s), %d connections (one replica restarted), %d snapshot rows and %d changes received: lost %d, duplicated %d, out of order %d; pushed counts wrong on %d dashboards (%d messages with counts checked); %d scoped dashboards heard of %d ids outside their scope",
		v.name, commits.Load(), held, len(bulks), bulks, wrote.Round(time.Millisecond), writeFor, settled.Round(time.Millisecond), len(clients), len(proofScoped)+1, len(replicas), resumes, rows, changes,
		lost, duplicated, reordered, miscounted, counted, leaky, foreign)
	if lost+duplicated+reordered != 0 {
		t.Errorf("lost %d, duplicated %d, out of order %d: want all 0", lost, duplicated, reordered)
	}
	if commits.Load() < proofMinCommits || len(bulks) < minBulks {
		t.Errorf("only %d writer commits and %d bulk statements: the proof proved little", commits.Load(), len(bulks))
	}
}

// retryable reports whether a writer's error is one a program would retry:
// a PostgreSQL deadlock between a bulk statement and a small transaction,
// or an SQLite writer that waited its busy timeout behind a bulk statement.
func retryable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "deadlock") || strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY")
}

// issueToken signs a dashboard's token for teams.
func issueToken(t *testing.T, teams []string) string {
	t.Helper()
	token, err := jwtauth.Issue([]byte(proofSecret), "proof", teams, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// viewDiff says how a view differs from want, for up to n tickets.
func viewDiff(v *wsclient.View, want []domain.Ticket, n int) string {
	var out []string
	seen := map[int64]bool{}
	for _, w := range want {
		seen[w.ID] = true
		got, ok := v.Tickets[w.ID]
		switch diff := portstest.DiffTicket(got, w); {
		case diff == "":
		case !ok:
			out = append(out, fmt.Sprintf("ticket %d missing", w.ID))
		default:
			out = append(out, diff)
		}
	}
	for id := range v.Tickets {
		if !seen[id] {
			out = append(out, fmt.Sprintf("ticket %d shown, not in the database's rows for the filter", id))
		}
	}
	if len(out) > n {
		out = append(out[:n], fmt.Sprintf("and %d more", len(out)-n))
	}
	return strings.Join(out, "; ")
}

// wrongIDs returns up to n ids of tickets the view shows wrong.
func wrongIDs(v *wsclient.View, want []domain.Ticket, n int) []int64 {
	var ids []int64
	seen := map[int64]bool{}
	for _, w := range want {
		seen[w.ID] = true
		if portstest.DiffTicket(v.Tickets[w.ID], w) != "" {
			ids = append(ids, w.ID)
		}
	}
	for id := range v.Tickets {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	return ids[:min(n, len(ids))]
}

// describe says what the database holds of ticket id.
func describe(tickets []domain.Ticket, id int64) string {
	for _, t := range tickets {
		if t.ID == id {
			return fmt.Sprintf("%s/%s/%s at %s", t.Team, t.Status, t.Priority, stamp(t.UpdatedAt))
		}
	}
	return "deleted"
}

func parseFilter(s string) (domain.Query, error) {
	values, err := url.ParseQuery(s)
	if err != nil {
		return domain.Query{}, err
	}
	return domain.ParseQuery(values, nil)
}

// positions says where the feed placed ticket id: its row's position and
// its departures'.
func positions(t *testing.T, store *gormstore.Store, id int64) string {
	t.Helper()
	db, err := store.Gorm().DB()
	if err != nil {
		t.Fatal(err)
	}
	mark := "?"
	if store.Dialect() == gormstore.Postgres {
		mark = "$1"
	}
	ctx := context.Background()
	var pos int64
	out := "position none"
	if err := db.QueryRowContext(ctx, `SELECT change_pos FROM tickets WHERE id = `+mark, id).Scan(&pos); err == nil {
		out = fmt.Sprintf("position %d", pos)
	}
	rows, err := db.QueryContext(ctx, `SELECT team, change_pos FROM ticket_departures WHERE id = `+mark+` ORDER BY change_pos`, id)
	if err != nil {
		return out + "; departures unknown: " + err.Error()
	}
	defer rows.Close()
	var left []string
	for rows.Next() {
		var team string
		if err := rows.Scan(&team, &pos); err != nil {
			return out + "; departures unknown: " + err.Error()
		}
		left = append(left, fmt.Sprintf("%s at %d", team, pos))
	}
	return fmt.Sprintf("%s; departures %v", out, left)
}

// formerTeams returns, for every ticket that ever left a team, the teams it
// left, as the database recorded them (ticket_departures).
func formerTeams(t *testing.T, store *gormstore.Store) map[int64][]string {
	t.Helper()
	db, err := store.Gorm().DB()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(context.Background(), `SELECT id, team FROM ticket_departures`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][]string{}
	for rows.Next() {
		var id int64
		var team string
		if err := rows.Scan(&id, &team); err != nil {
			t.Fatal(err)
		}
		out[id] = append(out[id], team)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readAll(t *testing.T, store *gormstore.Store) []domain.Ticket {
	t.Helper()
	var out []domain.Ticket
	err := store.StreamTickets(context.Background(), domain.Query{}, 1000, ports.BatchHandlerFunc(func(b []domain.Ticket) error {
		for _, tk := range b {
			tk.Tags = append([]string(nil), tk.Tags...)
			out = append(out, tk)
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lostChanges counts the tickets whose final state a view lacks: missing,
// stale, or still shown after leaving the filter.
func lostChanges(v *wsclient.View, want []domain.Ticket) int {
	lost := 0
	seen := map[int64]bool{}
	for _, w := range want {
		seen[w.ID] = true
		if portstest.DiffTicket(v.Tickets[w.ID], w) != "" {
			lost++
		}
	}
	for id := range v.Tickets {
		if !seen[id] {
			lost++
		}
	}
	return lost
}
