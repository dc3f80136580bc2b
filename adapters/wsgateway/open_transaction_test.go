package wsgateway_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A dashboard on PostgreSQL while writing transactions stay open — one in
// another database of the server (a batch job), one in the tickets' own
// database (a psql session left in BEGIN after an UPDATE): every change
// committed meanwhile reaches the dashboard at once, a bulk statement of
// thousands of tickets included; the dashboard hangs up, the held
// transaction commits while it is away, and the resume brings its change —
// once, with nothing sent twice and the view equal to the database.
func TestLive_OpenTransactionsHoldBackNoChange(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(41).Tickets(3000)
	store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
	ctx := context.Background()
	waitDispatched(t, store, hub)

	pgtest.HoldWriterElsewhere(t) // another database of the server, with a writer left open

	view := &wsclient.View{}
	c, err := wsclient.Dial(ctx, base, "", "admin", view)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.SnapshotDone && len(v.Tickets) == len(tickets) }); err != nil {
		t.Fatal(err)
	}

	// A session of the tickets' database that updated a ticket and stays
	// in its transaction.
	conn := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, store.Target())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	psql, writer := conn(), conn()
	held, err := psql.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback(ctx) //nolint:errcheck // committed below; a no-op then
	heldID := tickets[0].ID
	if _, err := held.Exec(ctx, `UPDATE tickets SET subject = 'held open' WHERE id = $1`, heldID); err != nil {
		t.Fatal(err)
	}

	// Other writers commit meanwhile: each change arrives while both
	// transactions stay open.
	for i := range 5 {
		id := tickets[1+i].ID
		subject := fmt.Sprintf("committed beside open transactions %d", i)
		if _, err := writer.Exec(ctx, `UPDATE tickets SET subject = $1 WHERE id = $2`, subject, id); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.Tickets[id].Subject == subject }); err != nil {
			t.Fatalf("change %d never arrived while other transactions were open: %v", i, err)
		}
	}
	tag, err := writer.Exec(ctx, `UPDATE tickets SET priority = 'urgent', updated_at = updated_at + interval '1 hour' WHERE id <> $1`, heldID)
	if err != nil || tag.RowsAffected() != int64(len(tickets)-1) {
		t.Fatalf("bulk update: %v, %d rows", err, tag.RowsAffected())
	}
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool {
		for id, tk := range v.Tickets {
			if id != heldID && tk.Priority != domain.PriorityUrgent {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("a bulk update of %d tickets never arrived whole while other transactions were open: %v", len(tickets)-1, err)
	}
	if view.Tickets[heldID].Subject == "held open" {
		t.Fatal("the dashboard shows the change of a transaction that has not committed")
	}
	cursor := view.Cursor
	sealer, err := domain.NewCursorSealer([]byte(testCursorKey))
	if err != nil {
		t.Fatal(err)
	}
	lc, err := sealer.OpenLiveCursor(cursor)
	if err != nil || len(lc.Live.Pending) == 0 {
		t.Fatalf("the cursor %+v (%v) should name the open transactions as pending", lc, err)
	}
	c.Conn.CloseNow()

	// While the dashboard is away, the held transaction commits.
	if err := held.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitDispatched(t, store, hub)
	dups := view.Counts.Duplicates
	c, err = wsclient.Dial(ctx, base, "", "admin", view)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Conn.CloseNow()
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.Tickets[heldID].Subject == "held open" }); err != nil {
		t.Fatalf("the change committed while the dashboard was away never arrived: %v", err)
	}
	if view.Counts.Resyncs != 0 {
		t.Fatalf("the resume was answered with resync")
	}
	// A last change marks the end of what the resume sends.
	marker := tickets[2]
	if _, err := writer.Exec(ctx, `UPDATE tickets SET subject = 'marker' WHERE id = $1`, marker.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.Tickets[marker.ID].Subject == "marker" }); err != nil {
		t.Fatal(err)
	}
	if got := view.Counts.Duplicates - dups; got != 0 {
		t.Errorf("the resume sent %d tickets the dashboard already had", got)
	}
	if view.Counts.Regressions != 0 {
		t.Errorf("%d versions older than the dashboard's arrived", view.Counts.Regressions)
	}
	want := portstest.Select(readAllTickets(t, store), domain.Query{})
	if len(want) != len(view.Tickets) {
		t.Fatalf("the view holds %d tickets, the database %d", len(view.Tickets), len(want))
	}
	for _, tk := range want {
		if got := view.Tickets[tk.ID]; portstest.DiffTicket(got, tk) != "" {
			t.Fatalf("ticket %d: %s", tk.ID, portstest.DiffTicket(got, tk))
		}
	}
}

// readAllTickets reads every ticket of store.
func readAllTickets(t *testing.T, store *gormstore.Store) []domain.Ticket {
	t.Helper()
	var out []domain.Ticket
	if err := store.StreamTickets(context.Background(), domain.Query{}, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
		for _, tk := range batch {
			tk.Tags = slices.Clone(tk.Tags) // the batch's are reused
			out = append(out, tk)
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	return out
}
