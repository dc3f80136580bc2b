package wsgateway_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

// rewriteRig is a real store, hub and gateway with a billing dashboard,
// and a connection of its own for writing the database as other programs do.
type rewriteRig struct {
	t      *testing.T
	d      gormstore.Dialect
	store  *gormstore.Store
	base   string
	db     *sql.DB
	view   *wsclient.View
	c      *wsclient.Client
	heard  map[int64]string
	idle   func()
	marker domain.Ticket
	tk     []domain.Ticket
}

func newRewriteRig(t *testing.T, d gormstore.Dialect, seed uint64) *rewriteRig {
	t.Helper()
	tickets := demodata.New(seed).Tickets(8)
	for i := range tickets {
		tickets[i].Team = []string{"billing", "sales"}[i%2]
	}
	store, hub, base := storeGateway(t, d, tickets)
	driver, dsn := "pgx", store.Target()
	if d == gormstore.SQLite {
		driver, dsn = "sqlite", strings.TrimPrefix(store.Target(), "sqlite:")
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &rewriteRig{t: t, d: d, store: store, base: base, db: db, view: &wsclient.View{}, heard: map[int64]string{}, tk: tickets, marker: tickets[0]}
	r.idle = func() { t.Helper(); waitDispatched(t, store, hub) }
	r.idle()
	return r
}

func (r *rewriteRig) insertSQL(id int64, team string) string {
	if r.d == gormstore.Postgres {
		return fmt.Sprintf(`INSERT INTO tickets (id, team, subject, status, priority, requester) VALUES (%d, '%s', 's', 'open', 'low', 'r@example.com')`, id, team)
	}
	return fmt.Sprintf(`INSERT INTO tickets (id, team, subject, status, priority, requester, assignee, tags, created_at, updated_at) VALUES (%d, '%s', 's', 'open', 'low', 'r@example.com', '', '[]', 1767225600000000, 1767225600000000)`, id, team)
}

// tx runs qs in one transaction; a func() in qs runs between statements.
func (r *rewriteRig) tx(qs ...any) {
	r.t.Helper()
	ctx := context.Background()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, q := range qs {
		switch q := q.(type) {
		case string:
			if _, err := tx.ExecContext(ctx, q); err != nil {
				r.t.Fatalf("%s: %v", q, err)
			}
		case func():
			q()
		}
	}
	if err := tx.Commit(); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rewriteRig) dial() {
	r.t.Helper()
	c, err := wsclient.Dial(context.Background(), r.base, "", "billing", r.view)
	if err != nil {
		r.t.Fatal(err)
	}
	r.c = c
	r.t.Cleanup(func() { c.Conn.CloseNow() })
}

func (r *rewriteRig) next(until func() bool) {
	r.t.Helper()
	deadline, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !until() {
		m, err := r.c.Next(deadline)
		if err != nil {
			r.t.Fatalf("read: %v (heard %v)", err, r.heard)
		}
		if m.Type == "resync" {
			r.t.Fatalf("resync: %s", m.Reason)
		}
		for _, ch := range m.Changes {
			r.heard[ch.ID] = ch.Op
			if ch.Ticket != nil {
				r.heard[ch.Ticket.ID] = ch.Op
			}
		}
	}
}

// mark updates the marker (a billing ticket) and reads until the dashboard has it.
func (r *rewriteRig) mark(subject string) {
	r.t.Helper()
	r.marker.Subject, r.marker.UpdatedAt = subject, r.marker.UpdatedAt.Add(time.Hour)
	if err := r.store.UpdateTicket(context.Background(), r.marker); err != nil {
		r.t.Fatal(err)
	}
	r.next(func() bool { return r.view.Tickets[r.marker.ID].Subject == subject })
}

// billingNow returns the ids of the database's billing tickets.
func (r *rewriteRig) billingNow() map[int64]bool {
	r.t.Helper()
	rows, err := r.db.Query(`SELECT id FROM tickets WHERE team = 'billing'`)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	ids := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			r.t.Fatal(err)
		}
		ids[id] = true
	}
	return ids
}

func (r *rewriteRig) snapshotThenHangUp() {
	r.t.Helper()
	r.dial()
	r.next(func() bool { return r.view.SnapshotDone })
	r.c.Conn.CloseNow()
}

func (r *rewriteRig) resume() {
	r.t.Helper()
	r.dial()
	r.next(func() bool { return r.view.SnapshotDone })
	r.mark("after-resume")
}

// Dashboards that resume must drop a ticket that left their teams however
// other programs rewrote it while they were away: renumbered rows, swapped
// ids, SQLite's INSERT OR REPLACE. Each of these once kept a ticket of
// another team on a billing dashboard, or would have under a change that
// judged departures by when a ticket entered a team.

// A billing ticket is renumbered and its id reused by a new billing
// ticket, which then moves to sales: the dashboard held the id in billing
// all along.
func TestResume_AReusedIdMovedOutIsRemoved(t *testing.T) {
	for _, d := range []gormstore.Dialect{gormstore.SQLite, gormstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			r := newRewriteRig(t, d, 4104)
			b := r.tk[2].ID // billing, held by the dashboard
			r.snapshotThenHangUp()
			if _, ok := r.view.Tickets[b]; !ok {
				t.Fatalf("dashboard does not hold %d", b)
			}
			r.tx(fmt.Sprintf(`UPDATE tickets SET id = 99050 WHERE id = %d`, b), r.insertSQL(b, "billing"))
			r.tx(fmt.Sprintf(`UPDATE tickets SET team = 'sales' WHERE id = %d`, b))
			r.idle()
			r.resume()
			if _, ok := r.view.Tickets[b]; ok {
				t.Errorf("the billing dashboard keeps ticket %d (team in view %q), which is in sales in the database (heard %q)", b, r.view.Tickets[b].Team, r.heard[b])
			}
		})
	}
}

// Two billing tickets swap ids while the dashboard is away, then one of
// them moves to sales.
func TestResume_SwappedIdsThenAMoveLeaveNoStaleTicket(t *testing.T) {
	for _, d := range []gormstore.Dialect{gormstore.SQLite, gormstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			r := newRewriteRig(t, d, 4105)
			a, b := r.tk[2].ID, r.tk[4].ID // billing
			r.snapshotThenHangUp()
			r.tx(fmt.Sprintf(`UPDATE tickets SET id = -1 WHERE id = %d`, a),
				fmt.Sprintf(`UPDATE tickets SET id = %d WHERE id = %d`, a, b),
				fmt.Sprintf(`UPDATE tickets SET id = %d WHERE id = -1`, b))
			r.tx(fmt.Sprintf(`UPDATE tickets SET team = 'sales' WHERE id = %d`, a))
			r.idle()
			r.resume()
			if _, ok := r.view.Tickets[a]; ok {
				t.Errorf("the billing dashboard keeps ticket %d, which is in sales in the database (heard %q)", a, r.heard[a])
			}
			db := r.billingNow()
			for id := range r.view.Tickets {
				if !db[id] {
					t.Errorf("view holds %d, not in billing in the database", id)
				}
			}
		})
	}
}

// SQLite's INSERT OR REPLACE — the usual "write the row as it is now" of
// sync tools — deletes the old row without firing the delete trigger and
// inserts a new one; a later move out of billing is a departure still.
func TestResume_InsertOrReplaceThenAMoveIsRemoved(t *testing.T) {
	t.Parallel()
	r := newRewriteRig(t, gormstore.SQLite, 4106)
	b := r.tk[2].ID // billing, held
	r.snapshotThenHangUp()
	if _, ok := r.view.Tickets[b]; !ok {
		t.Fatalf("dashboard does not hold %d", b)
	}
	r.tx(strings.Replace(r.insertSQL(b, "billing"), "INSERT", "INSERT OR REPLACE", 1))
	r.tx(fmt.Sprintf(`UPDATE tickets SET team = 'sales' WHERE id = %d`, b))
	r.idle()
	r.resume()
	if _, ok := r.view.Tickets[b]; ok {
		t.Errorf("the billing dashboard keeps ticket %d, which is in sales in the database (heard %q)", b, r.heard[b])
	}
}

// INSERT OR REPLACE straight into sales: the trigger of
// 00006_replace_departures.sql records the departure from billing that
// the replaced row's silent deletion would otherwise hide.
func TestResume_InsertOrReplaceIntoAnotherTeamIsRemoved(t *testing.T) {
	t.Parallel()
	r := newRewriteRig(t, gormstore.SQLite, 4107)
	b := r.tk[2].ID
	r.snapshotThenHangUp()
	r.tx(strings.Replace(r.insertSQL(b, "sales"), "INSERT", "INSERT OR REPLACE", 1))
	r.idle()
	r.resume()
	if _, ok := r.view.Tickets[b]; ok {
		t.Errorf("the billing dashboard keeps ticket %d, which is in sales in the database (heard %q)", b, r.heard[b])
	}
}
