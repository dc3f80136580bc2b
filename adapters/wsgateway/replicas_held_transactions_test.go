package wsgateway_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// dialView connects a dashboard with token to base, resuming view's cursor.
func dialView(t *testing.T, base, token string, view *wsclient.View) *wsclient.Client {
	t.Helper()
	c, err := wsclient.Dial(context.Background(), base, "", token, view)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// beginHeld opens a transaction on a connection of its own, to hold open.
func beginHeld(t *testing.T, url string) pgx.Tx {
	t.Helper()
	tx, err := pgConn(t, url).Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// patience is how long a test may still wait: until the test binary's
// deadline (portstest.Deadline), not a budget sized on a quiet machine.
func patience(t testing.TB) time.Duration {
	if deadline, ok := portstest.Deadline(t); ok {
		return max(time.Until(deadline), time.Second)
	}
	return time.Hour
}

func pgConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// checkView compares view with the database seen through team ("" = all).
func checkView(t *testing.T, store *gormstore.Store, view *wsclient.View, team string) {
	t.Helper()
	q := domain.Query{}
	if team != "" {
		q.Teams = []string{team}
	}
	want := portstest.Select(readAllTickets(t, store), q)
	bad := 0
	for _, tk := range want {
		got, ok := view.Tickets[tk.ID]
		if !ok {
			bad++
			if bad < 10 {
				t.Errorf("ticket %d (team %s, subject %q) missing from the view", tk.ID, tk.Team, tk.Subject)
			}
			continue
		}
		if d := portstest.DiffTicket(got, tk); d != "" {
			bad++
			if bad < 10 {
				t.Errorf("ticket %d: %s", tk.ID, d)
			}
		}
	}
	if len(want) != len(view.Tickets) {
		t.Errorf("the view holds %d tickets, the database %d", len(view.Tickets), len(want))
	}
	if bad > 0 {
		t.Errorf("%d tickets wrong in the view", bad)
	}
	if view.Counts.Regressions != 0 {
		t.Errorf("%d regressions", view.Counts.Regressions)
	}
}

// readChanges reads messages until at least n changes arrived (or timeout).
func readChanges(t *testing.T, c *wsclient.Client, n int) {
	t.Helper()
	start := c.View.Counts.Changes
	ctx, cancel := untilTestDeadline(context.Background(), t)
	defer cancel()
	for c.View.Counts.Changes-start < n {
		if _, err := c.Next(ctx); err != nil {
			t.Fatalf("after %d changes: %v", c.View.Counts.Changes-start, err)
		}
	}
}

// marker writes a last change and waits for it: the end of what was sent.
func marker(t *testing.T, w *pgx.Conn, c *wsclient.Client, id int64, s string) {
	t.Helper()
	if _, err := w.Exec(context.Background(), `UPDATE tickets SET subject = $1, updated_at = updated_at + interval '1 second' WHERE id = $2`, s, id); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(context.Background(), patience(t), func(v *wsclient.View) bool { return v.Tickets[id].Subject == s }); err != nil {
		t.Fatalf("marker %q: %v", s, err)
	}
}

// A dashboard hangs up in the middle of a bulk update of thousands of rows
// while other transactions are held open, resumes on a second replica, hangs
// up again in the middle of its catch-up, resumes on the first; the held
// transactions commit between the hang-ups. Nothing lost, nothing twice.
func TestReplicas_BulkHangUpsWithHeldTransactions(t *testing.T) {
	tickets := demodata.New(77).Tickets(4000)
	store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
	store2, hub2, base2 := gatewayOn(t, store.Target(), 0)
	ctx := context.Background()
	waitDispatched(t, store, hub)
	waitDispatched(t, store2, hub2)
	pgtest.HoldWriterElsewhere(t)

	view := &wsclient.View{}
	c := dialView(t, base, "admin", view)
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.SnapshotDone && len(v.Tickets) == len(tickets) }); err != nil {
		t.Fatal(err)
	}
	writer := pgConn(t, store.Target())
	// Held transactions: A updates ticket 0 before the bulk; B (begun later)
	// updates ticket 1 after the bulk begins.
	a, b := pgConn(t, store.Target()), pgConn(t, store.Target())
	txA, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txA.Exec(ctx, `UPDATE tickets SET subject = 'A', updated_at = updated_at + interval '2 hour' WHERE id = $1`, tickets[0].ID); err != nil {
		t.Fatal(err)
	}
	bulk := func(sub string) {
		tag, err := writer.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = updated_at + interval '1 minute' WHERE id > $2`, sub, tickets[1].ID)
		if err != nil || tag.RowsAffected() < 3000 {
			t.Fatalf("bulk: %v %d", err, tag.RowsAffected())
		}
	}
	bulk("bulk 1")
	txB, err := b.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txB.Exec(ctx, `UPDATE tickets SET subject = 'B', updated_at = updated_at + interval '2 hour' WHERE id = $1`, tickets[1].ID); err != nil {
		t.Fatal(err)
	}
	readChanges(t, c, 700) // part of the bulk
	c.Conn.CloseNow()
	t.Logf("hung up after %d changes", view.Counts.Changes)
	// A commits while away; a second bulk commits too.
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	bulk("bulk 2")
	waitDispatched(t, store2, hub2)
	dups := view.Counts.Duplicates
	c = dialView(t, base2, "admin", view)
	readChanges(t, c, 500) // part of the catch-up
	c.Conn.CloseNow()
	t.Logf("hung up again after %d changes", view.Counts.Changes)
	if err := txB.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitDispatched(t, store, hub)
	c = dialView(t, base, "admin", view)
	defer c.Conn.CloseNow()
	marker(t, writer, c, tickets[2].ID, "end")
	if view.Counts.Resyncs != 0 {
		t.Errorf("resynced %d times", view.Counts.Resyncs)
	}
	if d := view.Counts.Duplicates - dups; d != 0 {
		t.Errorf("%d duplicates after the resumes", d)
	}
	checkView(t, store, view, "")
}

// A billing dashboard while held transactions move tickets billing→sales
// and sales→billing, committing after the dashboard resumed (on the other
// replica).
func TestReplicas_ScopedMovesInHeldTransactionsCommitAfterResume(t *testing.T) {
	tickets := demodata.New(78).Tickets(400)
	for i := range tickets {
		tickets[i].Team = []string{"billing", "sales"}[i%2]
	}
	store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
	store2, hub2, base2 := gatewayOn(t, store.Target(), 3)
	ctx := context.Background()
	waitDispatched(t, store, hub)
	waitDispatched(t, store2, hub2)
	view := &wsclient.View{}
	c := dialView(t, base, "billing", view)
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	writer := pgConn(t, store.Target())
	var txs []pgx.Tx
	for k := range 6 {
		tx := beginHeld(t, store.Target())
		// k even: move billing tickets to sales; odd: sales to billing
		for j := range 5 {
			tk := tickets[(k*10+2*j+k%2)%len(tickets)]
			to := map[string]string{"billing": "sales", "sales": "billing"}[tk.Team]
			if _, err := tx.Exec(ctx, `UPDATE tickets SET team = $1, subject = $2, updated_at = updated_at + interval '3 hour' WHERE id = $3`, to, fmt.Sprintf("moved by %d", k), tk.ID); err != nil {
				t.Fatal(err)
			}
		}
		txs = append(txs, tx)
		// Others commit between.
		var others []int64
		for i := 100 + k; i < len(tickets); i += 7 {
			others = append(others, tickets[i].ID)
		}
		if _, err := writer.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = updated_at + interval '1 minute' WHERE id = ANY($2)`, fmt.Sprintf("w%d", k), others); err != nil {
			t.Fatal(err)
		}
	}
	readChanges(t, c, 5)
	c.Conn.CloseNow()
	// half commit while away
	for _, tx := range txs[:3] {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitDispatched(t, store2, hub2)
	c = dialView(t, base2, "billing", view)
	readChanges(t, c, 3)
	// the rest commit after the resume
	for _, tx := range txs[3:] {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	readChanges(t, c, 2)
	c.Conn.CloseNow()
	c = dialView(t, base, "billing", view)
	defer c.Conn.CloseNow()
	// marker: a billing ticket
	var mk int64
	for _, tk := range readAllTickets(t, store) {
		if tk.Team == "billing" {
			mk = tk.ID
			break
		}
	}
	marker(t, writer, c, mk, "end")
	if view.Counts.Resyncs != 0 {
		t.Errorf("resynced")
	}
	for id, tk := range view.Tickets {
		if tk.Team != "billing" {
			t.Errorf("ticket %d of team %s in the billing view", id, tk.Team)
		}
	}
	checkView(t, store, view, "billing")
}

// More than 16 transactions open when the cursor is sealed: the cursor is
// capped; they commit while the dashboard is away; the resume misses none.
func TestReplicas_CappedCursorResumesWithoutLoss(t *testing.T) {
	tickets := demodata.New(79).Tickets(200)
	store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
	store2, hub2, base2 := gatewayOn(t, store.Target(), 0)
	ctx := context.Background()
	waitDispatched(t, store, hub)
	view := &wsclient.View{}
	c := dialView(t, base, "admin", view)
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	writer := pgConn(t, store.Target())
	var txs []pgx.Tx
	for k := range 24 {
		tx := beginHeld(t, store.Target())
		if _, err := tx.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = updated_at + interval '3 hour' WHERE id = $2`, fmt.Sprintf("held %d", k), tickets[10+k].ID); err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
		if _, err := writer.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = updated_at + interval '1 minute' WHERE id = $2`, fmt.Sprintf("w%d", k), tickets[100+k].ID); err != nil {
			t.Fatal(err)
		}
	}
	// hang up with all 24 open: the cursor is capped
	marker(t, writer, c, tickets[0].ID, "before")
	c.Conn.CloseNow()
	sealer, err := domain.NewCursorSealer([]byte(testCursorKey))
	if err != nil {
		t.Fatal(err)
	}
	lc, err := sealer.OpenLiveCursor(view.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cursor at hang-up: live %v (%d pending)", lc.Live, len(lc.Live.Pending))
	// half commit (in reverse order) while away, a change between
	for i := 23; i >= 12; i-- {
		if err := txs[i].Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := writer.Exec(ctx, `UPDATE tickets SET subject = 'between', updated_at = updated_at + interval '1 minute' WHERE id = $1`, tickets[5].ID); err != nil {
		t.Fatal(err)
	}
	for i := 11; i >= 0; i-- {
		if err := txs[i].Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitDispatched(t, store2, hub2)
	c = dialView(t, base2, "admin", view)
	defer c.Conn.CloseNow()
	marker(t, writer, c, tickets[1].ID, "after")
	t.Logf("duplicates %d (a capped cursor may re-send)", view.Counts.Duplicates)
	if view.Counts.Resyncs != 0 {
		t.Errorf("resynced")
	}
	checkView(t, store, view, "")
}

// A snapshot taken while a transaction is open (the dashboard subscribes
// during it): the transaction's change arrives once, after it commits, and
// a resume on the other replica neither repeats nor misses it.
func TestReplicas_SnapshotDuringOpenTransactionDeliveredOnce(t *testing.T) {
	tickets := demodata.New(80).Tickets(3000)
	store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
	store2, hub2, base2 := gatewayOn(t, store.Target(), 0)
	ctx := context.Background()
	waitDispatched(t, store, hub)
	writer := pgConn(t, store.Target())
	held := pgConn(t, store.Target())
	tx, err := held.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET subject = 'held', updated_at = updated_at + interval '3 hour' WHERE id % 10 = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Exec(ctx, `UPDATE tickets SET subject = 'bulk', updated_at = updated_at + interval '1 minute' WHERE id % 10 <> 0`); err != nil {
		t.Fatal(err)
	}
	waitDispatched(t, store, hub)
	view := &wsclient.View{}
	c := dialView(t, base, "admin", view)
	// Hang up in the middle of the snapshot; the held transaction commits.
	ctx2, cancel := untilTestDeadline(ctx, t)
	for view.Counts.Rows < 1000 && !view.SnapshotDone {
		m, err := c.Next(ctx2)
		if err != nil {
			t.Fatalf("after %+v: %v", view.Counts, err)
		}
		if m.Type != "snapshot" {
			t.Logf("message %s: %d changes, %d tickets, snapshot done %v", m.Type, len(m.Changes), len(m.Tickets), view.SnapshotDone)
		}
	}
	cancel()
	c.Conn.CloseNow()
	t.Logf("hung up after %d rows (snapshot done %v)", view.Counts.Rows, view.SnapshotDone)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Exec(ctx, `UPDATE tickets SET subject = 'bulk2', updated_at = updated_at + interval '1 minute' WHERE id % 10 = 5`); err != nil {
		t.Fatal(err)
	}
	waitDispatched(t, store2, hub2)
	c = dialView(t, base2, "admin", view)
	defer c.Conn.CloseNow()
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	marker(t, writer, c, tickets[3].ID, "end")
	if view.Counts.Duplicates != 0 {
		t.Errorf("%d duplicates", view.Counts.Duplicates)
	}
	if view.Counts.Resyncs != 0 {
		t.Errorf("resynced")
	}
	checkView(t, store, view, "")
}

// The hub's feed connection is killed again and again in the middle of
// reading bulk updates (pg_terminate_backend of the feed's page queries)
// while a transaction is held open and commits between the failures; a
// dashboard hangs up and resumes meanwhile. Nothing lost, nothing twice.
func TestReplicas_FeedConnectionKilledMidBulk(t *testing.T) {
	tickets := demodata.New(82).Tickets(3000)
	store0, hub0, _ := storeGateway(t, gormstore.Postgres, tickets)
	waitDispatched(t, store0, hub0)
	store, hub, base := gatewayOn(t, store0.Target(), 50) // pages of 50: many partial positions
	ctx := context.Background()
	waitDispatched(t, store, hub)
	view := &wsclient.View{}
	c := dialView(t, base, "admin", view)
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	writer, killer, held := pgConn(t, store.Target()), pgConn(t, store.Target()), pgConn(t, store.Target())
	stop := make(chan struct{})
	killed := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			_ = killer.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%UNION ALL%' AND random() < 0.3`).Scan(&n)
			killed += n
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		}
	}()
	for round := range 6 {
		tx, err := held.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = updated_at + interval '1 hour' WHERE id = $2`, fmt.Sprintf("held %d", round), tickets[round].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := writer.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = updated_at + interval '1 minute' WHERE id > $2`, fmt.Sprintf("bulk %d", round), tickets[9].ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := writer.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = updated_at + interval '1 minute' WHERE id > $2 AND id % 3 = 0`, fmt.Sprintf("bulk b %d", round), tickets[9].ID); err != nil {
			t.Fatal(err)
		}
		if round%2 == 1 {
			rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			for range 3 {
				if _, err := c.Next(rctx); err != nil {
					break
				}
			}
			cancel()
			c.Conn.CloseNow()
			c = dialView(t, base, "admin", view)
		}
	}
	time.Sleep(2 * time.Second)
	close(stop)
	<-done
	t.Logf("killed %d feed queries; hub stats %+v", killed, hub.Stats())
	waitDispatched(t, store, hub)
	c.Conn.CloseNow()
	c = dialView(t, base, "admin", view)
	defer c.Conn.CloseNow()
	marker(t, writer, c, tickets[8].ID, "end")
	if view.Counts.Duplicates != 0 {
		t.Errorf("%d duplicates", view.Counts.Duplicates)
	}
	checkView(t, store, view, "")
}

// untilTestDeadline bounds a wait by the test binary's deadline
// (portstest.Deadline), not by a budget sized on a quiet machine.
func untilTestDeadline(ctx context.Context, t testing.TB) (context.Context, context.CancelFunc) {
	if deadline, ok := portstest.Deadline(t); ok {
		return context.WithDeadline(ctx, deadline)
	}
	return context.WithCancel(ctx)
}
