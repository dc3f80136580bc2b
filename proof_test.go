package ticketstream_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
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
	mu   sync.Mutex
	stop func() error
}

func newReplica(t *testing.T, dbURL string, demo int) *replica {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{t: t, url: dbURL, addr: ln.Addr().String()}
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
		Server:   ticketstream.ServerConfig{Addr: r.addr, DemoTickets: demo, ShutdownTimeout: 5 * time.Second},
	}
	srv, cleanup, err := ticketstream.InitializeServer(context.Background(), cfg, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	r.mu.Lock()
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
	waitReady(r.t, "http://"+r.addr)
}

func (r *replica) shutdown() error {
	r.mu.Lock()
	stop := r.stop
	r.stop = nil
	r.mu.Unlock()
	if stop == nil {
		return nil
	}
	return stop()
}

func (r *replica) restart() {
	if err := r.shutdown(); err != nil {
		r.t.Errorf("restart: %v", err)
	}
	r.start(nil, 0)
}

// writer changes tickets the way other programs would: straight SQL, in
// transactions that overlap and commit out of order (PostgreSQL), moving
// updated_at forward with each change so that a version is known by it.
type writer interface {
	change(ctx context.Context, rng *rand.Rand, ids []int64, newID int64) error
}

var proofTeams = []string{"billing", "technical", "accounts", "security", "enterprise"}

func randomEdit(rng *rand.Rand) (team, status, priority, subject string) {
	return proofTeams[rng.IntN(len(proofTeams))], string(domain.Statuses[rng.IntN(len(domain.Statuses))]),
		string(domain.Priorities[rng.IntN(len(domain.Priorities))]), fmt.Sprintf("edit %d", rng.Uint32())
}

type pgWriter struct{ conn *pgx.Conn }

func (w *pgWriter) change(ctx context.Context, rng *rand.Rand, ids []int64, newID int64) error {
	tx, err := w.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // committed below
	for range 1 + rng.IntN(3) {
		id := ids[rng.IntN(len(ids))]
		team, status, priority, subject := randomEdit(rng)
		if rng.IntN(3) > 0 {
			team = "" // keep the team most of the time
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET subject = $2, status = $3, priority = $4,
			team = COALESCE(NULLIF($5, ''), team),
			updated_at = GREATEST(updated_at + interval '1 microsecond', clock_timestamp()) WHERE id = $1`,
			id, subject, status, priority, team); err != nil {
			return err
		}
		// Hold the transaction open a while: others start, write and
		// commit meanwhile, so commits come out of transaction-id order.
		time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
	}
	switch rng.IntN(10) {
	case 0:
		team, status, priority, subject := randomEdit(rng)
		if _, err := tx.Exec(ctx, `INSERT INTO tickets (id, team, subject, status, priority, requester, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'someone@example.com', clock_timestamp(), clock_timestamp())`, newID, team, subject, status, priority); err != nil {
			return err
		}
	case 1:
		if _, err := tx.Exec(ctx, `DELETE FROM tickets WHERE id = $1`, ids[rng.IntN(len(ids))]); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

type sqliteWriter struct{ db *sql.DB }

func (w *sqliteWriter) change(ctx context.Context, rng *rand.Rand, ids []int64, newID int64) error {
	// One writer at a time: each statement commits on its own.
	for range 1 + rng.IntN(3) {
		id := ids[rng.IntN(len(ids))]
		team, status, priority, subject := randomEdit(rng)
		if rng.IntN(3) > 0 {
			team = ""
		}
		now := time.Now().UnixMicro()
		if _, err := w.db.ExecContext(ctx, `UPDATE tickets SET subject = ?, status = ?, priority = ?,
			team = COALESCE(NULLIF(?, ''), team), updated_at = max(updated_at + 1, ?) WHERE id = ?`,
			subject, status, priority, team, now, id); err != nil {
			return err
		}
	}
	switch rng.IntN(10) {
	case 0:
		team, status, priority, subject := randomEdit(rng)
		now := time.Now().UnixMicro()
		if _, err := w.db.ExecContext(ctx, `INSERT INTO tickets (id, team, subject, status, priority, requester, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'someone@example.com', ?, ?)`, newID, team, subject, status, priority, now, now); err != nil {
			return err
		}
	case 1:
		if _, err := w.db.ExecContext(ctx, `DELETE FROM tickets WHERE id = ?`, ids[rng.IntN(len(ids))]); err != nil {
			return err
		}
	}
	return nil
}

// proofFilters are the dashboards' filters, spread like real ones.
var proofFilters = []string{
	"", "team=billing", "status=open,pending", "priority=urgent,high", "team=technical&status=new,open",
	"team=security,accounts", "status=new", "", "team=enterprise&priority=urgent", "status=solved,closed",
	"team=billing&status=open", "priority=low",
}

// proofClient is one dashboard that drops its connection at random and
// resumes from its last cursor, on whichever replica it reaches.
type proofClient struct {
	filter   string
	mu       sync.Mutex // guards view: the test reads it while the client runs
	view     wsclient.View
	resumes  atomic.Int64
	failures atomic.Int64
}

func (pc *proofClient) run(ctx context.Context, rng *rand.Rand, replicas []*replica, settle <-chan struct{}) error {
	for ctx.Err() == nil {
		r := replicas[rng.IntN(len(replicas))]
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		pc.mu.Lock()
		c, err := wsclient.Dial(dctx, "ws://"+r.addr, pc.filter, "", &pc.view)
		pc.mu.Unlock()
		cancel()
		if c != nil {
			c.Mu = &pc.mu
		}
		if err != nil { // a replica restarting: try again shortly
			pc.failures.Add(1)
			sleepCtx(ctx, time.Duration(20+rng.IntN(100))*time.Millisecond)
			continue
		}
		pc.resumes.Add(1)
		// Stay connected a random while (until told to settle), then drop.
		stay := time.Duration(100+rng.IntN(900)) * time.Millisecond
		rctx, rcancel := context.WithTimeout(ctx, stay)
		select {
		case <-settle:
			rcancel()
			rctx, rcancel = context.WithCancel(ctx)
		default:
		}
		for {
			if _, err := c.Next(rctx); err != nil {
				break
			}
		}
		rcancel()
		c.Conn.CloseNow()
		pc.mu.Lock()
		counts := pc.view.Counts
		pc.mu.Unlock()
		if counts.Duplicates+counts.Regressions > 0 {
			return fmt.Errorf("filter %q: %d duplicates, %d regressions", pc.filter, counts.Duplicates, counts.Regressions)
		}
		sleepCtx(ctx, time.Duration(rng.IntN(200))*time.Millisecond)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// TestProof_NothingLostDuplicatedOrReordered is issue 5's proof: writers
// whose transactions overlap and commit out of order, dashboards that drop
// and resume at random across two replicas, one replica restarted; at the
// end every dashboard's view must equal the database for its filter.
func TestProof_NothingLostDuplicatedOrReordered(t *testing.T) {
	t.Parallel()
	for _, d := range []gormstore.Dialect{gormstore.SQLite, gormstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			runProof(t, d, 6*time.Second)
		})
	}
}

func runProof(t *testing.T, d gormstore.Dialect, writeFor time.Duration) {
	ctx := context.Background()
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "proof.db")
	if d == gormstore.Postgres {
		dbURL = pgtest.NewDatabase(t)
	}
	const seeded = 2000
	first := newReplica(t, dbURL, seeded)
	replicas := []*replica{first}
	if d == gormstore.Postgres { // replicas share a server database
		replicas = append(replicas, newReplica(t, dbURL, 0))
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
	for range 4 {
		if d == gormstore.Postgres {
			c, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			writers = append(writers, &pgWriter{conn: c})
		} else {
			db, err := store.Gorm().DB()
			if err != nil {
				t.Fatal(err)
			}
			writers = append(writers, &sqliteWriter{db: db})
		}
	}

	clients := make([]*proofClient, 24)
	for i := range clients {
		clients[i] = &proofClient{filter: proofFilters[i%len(proofFilters)]}
	}
	clientCtx, stopClients := context.WithCancel(ctx)
	settle := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(clients)+len(writers))
	for i, pc := range clients {
		wg.Go(func() {
			if err := pc.run(clientCtx, rand.New(rand.NewPCG(uint64(i), 7)), replicas, settle); err != nil {
				errs <- err
			}
		})
	}

	writeCtx, stopWriting := context.WithTimeout(ctx, writeFor)
	var nextID atomic.Int64
	nextID.Store(10_000_000)
	var commits atomic.Int64
	var ww sync.WaitGroup
	for i, w := range writers {
		ww.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			for writeCtx.Err() == nil {
				if err := w.change(writeCtx, rng, ids, nextID.Add(1)); err != nil {
					if writeCtx.Err() == nil && !strings.Contains(err.Error(), "deadlock") {
						errs <- fmt.Errorf("writer %d: %w", i, err)
						return
					}
					continue
				}
				commits.Add(1)
			}
		})
	}
	time.Sleep(writeFor / 2)
	first.restart() // mid-way, with clients connected and writers writing
	ww.Wait()
	stopWriting()

	// Writers done: every dashboard reconnects once more and must converge.
	close(settle)
	want := map[string][]domain.Ticket{}
	all := readAll(t, store)
	deadline := time.Now().Add(30 * time.Second)
	for _, pc := range clients {
		q, err := parseFilter(pc.filter)
		if err != nil {
			t.Fatal(err)
		}
		want[pc.filter] = portstest.Select(all, q)
	}
	converged := func() bool {
		for _, pc := range clients {
			pc.mu.Lock()
			lost := lostChanges(&pc.view, want[pc.filter])
			pc.mu.Unlock()
			if lost > 0 {
				return false
			}
		}
		return true
	}
	for !converged() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stopClients()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	var lost, duplicated, reordered, resumes, rows, changes, miscounted int
	for _, pc := range clients {
		if err := pc.view.CheckTotals(); err != nil {
			miscounted++
			t.Errorf("filter %q: pushed counts: %v", pc.filter, err)
		}
		lost += lostChanges(&pc.view, want[pc.filter])
		duplicated += pc.view.Counts.Duplicates
		reordered += pc.view.Counts.Regressions
		resumes += int(pc.resumes.Load())
		rows += pc.view.Counts.Rows
		changes += pc.view.Counts.Changes
	}
	t.Logf("proof %s: %d writer commits in %s, %d dashboards on %d replica(s), %d connections (one replica restarted), %d snapshot rows and %d changes received: lost %d, duplicated %d, out of order %d; pushed counts wrong on %d dashboards",
		d, commits.Load(), writeFor, len(clients), len(replicas), resumes, rows, changes, lost, duplicated, reordered, miscounted)
	if lost+duplicated+reordered != 0 {
		t.Fatalf("lost %d, duplicated %d, out of order %d: want all 0", lost, duplicated, reordered)
	}
	if commits.Load() < 50 {
		t.Fatalf("only %d writer commits: the proof proved little", commits.Load())
	}
}

func parseFilter(s string) (domain.Query, error) {
	values, err := url.ParseQuery(s)
	if err != nil {
		return domain.Query{}, err
	}
	return domain.ParseQuery(values, nil)
}

// readAll returns every ticket in the database.
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
