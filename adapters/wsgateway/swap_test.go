package wsgateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

// One statement swaps half the tickets into and out of billing while a
// billing dashboard is away, and another while it is connected: it ends
// holding exactly billing's tickets.
func TestResume_ASwapOfTeamsInOneStatement(t *testing.T) {
	pgtest.Require(t)
	tickets := demodata.New(33).Tickets(40)
	for i := range tickets {
		tickets[i].Team = []string{"billing", "sales"}[i%2]
	}
	store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
	ctx := context.Background()
	idle := func() { t.Helper(); waitDispatched(t, store, hub) }
	swap := func(r int) {
		if err := store.Gorm().Exec(`UPDATE tickets SET team = CASE WHEN team = 'billing' THEN 'sales' ELSE 'billing' END, updated_at = updated_at + interval '1 second' WHERE id % 2 = ?`, r).Error; err != nil {
			t.Fatal(err)
		}
	}
	billing := func() map[int64]bool {
		out := map[int64]bool{}
		rows, err := store.Gorm().Raw(`SELECT id FROM tickets WHERE team = 'billing'`).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			out[id] = true
		}
		return out
	}
	check := func(view *wsclient.View, when string) {
		t.Helper()
		want := billing()
		for id := range view.Tickets {
			if !want[id] {
				t.Errorf("%s: the dashboard shows ticket %d, no longer billing's", when, id)
			}
		}
		for id := range want {
			if _, ok := view.Tickets[id]; !ok {
				t.Errorf("%s: the dashboard lacks billing's ticket %d", when, id)
			}
		}
	}
	idle()
	view := &wsclient.View{}
	c, err := wsclient.Dial(ctx, base, "", "billing", view)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	swap(0) // connected
	idle()
	match := func(v *wsclient.View) bool {
		want := billing()
		if len(v.Tickets) != len(want) {
			return false
		}
		for id := range want {
			if _, ok := v.Tickets[id]; !ok {
				return false
			}
		}
		return true
	}
	if err := c.WaitFor(ctx, 10*time.Second, match); err != nil {
		check(view, "connected")
	}
	c.Conn.CloseNow()
	swap(1) // away
	idle()
	c, err = wsclient.Dial(ctx, base, "", "billing", view)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Conn.CloseNow()
	if err := c.WaitFor(ctx, 10*time.Second, match); err != nil {
		check(view, "resumed")
	}
}
