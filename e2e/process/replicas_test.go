package process

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/e2e"
)

// Several serve processes on one PostgreSQL database each deliver every
// change to their own dashboards.
func TestReplicas_TwoProcessesEachDeliverEveryChange(t *testing.T) {
	db := pgtest.NewDatabase(t)
	a := e2e.StartProcess(t, "--database", db, "--demo-tickets", "500")
	b := e2e.StartProcess(t, "--database", db, "--demo-tickets", "0")
	ctx := context.Background()
	views := []*wsclient.View{{}, {}, {}, {}}
	var clients []*wsclient.Client
	for i, v := range views {
		addr := a.Addr
		if i%2 == 1 {
			addr = b.Addr
		}
		c, err := wsclient.Dial(ctx, "ws://"+addr, "", "", v)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Conn.CloseNow()
		if err := c.WaitFor(ctx, e2e.Patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i := range 30 {
		if _, err := conn.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = clock_timestamp() WHERE id = $2`, fmt.Sprintf("replicated %d", i), 1+i*7); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `DELETE FROM tickets WHERE id = 3`); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		if err := c.WaitFor(ctx, e2e.Patience(t), func(v *wsclient.View) bool {
			_, deleted := v.Tickets[3]
			return !deleted && v.Tickets[1+29*7].Subject == "replicated 29"
		}); err != nil {
			t.Fatalf("dashboard %d (replica %s): %v", i, map[bool]string{true: "a", false: "b"}[i%2 == 0], err)
		}
		for j := range 30 {
			if got := c.View.Tickets[int64(1+j*7)].Subject; got != fmt.Sprintf("replicated %d", j) {
				t.Fatalf("dashboard %d has ticket %d as %q", i, 1+j*7, got)
			}
		}
		if c.View.Counts.Duplicates+c.View.Counts.Regressions != 0 || len(c.View.Tickets) != 499 {
			t.Fatalf("dashboard %d: %d tickets, counts %+v", i, len(c.View.Tickets), c.View.Counts)
		}
		if !domain.IsLiveCursor(c.View.Cursor) {
			t.Fatalf("dashboard %d holds cursor %q", i, c.View.Cursor)
		}
	}
}
