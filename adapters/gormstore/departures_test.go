package gormstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A team a ticket had only inside one transaction — moved there and on, or
// inserted there and moved — was never seen by a reader: no dashboard of
// that team may hear of the ticket as one that left it.
func TestPostgres_ATeamHeldOnlyInsideATransactionIsNoDeparture(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	tickets := demodata.New(4).Tickets(3)
	tickets[0].Team, tickets[1].Team, tickets[2].Team = "sales", "billing", "marketing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	conn, err := pgx.Connect(ctx, s.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	execEach(t, ctx, tx, "", []string{
		`UPDATE tickets SET team = 'billing' WHERE id = $1`,                // sales → billing …
		`UPDATE tickets SET team = 'support', subject = 'x' WHERE id = $1`, // … → support: left sales only
	}, tickets[0].ID)
	if _, err := tx.Exec(ctx, `INSERT INTO tickets (id, team, subject, status, priority, requester) VALUES (99001, 'billing', 's', 'open', 'low', 'r@example.com')`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET team = 'support' WHERE id = 99001`); err != nil { // inserted into billing, moved: never billing for a reader
		t.Fatal(err)
	}
	// inserted into billing, its id changed, then moved: never billing for a reader either
	execEach(t, ctx, tx, "", []string{
		`INSERT INTO tickets (id, team, subject, status, priority, requester) VALUES (99002, 'billing', 's', 'open', 'low', 'r@example.com')`,
		`UPDATE tickets SET id = 99003 WHERE id = 99002`,
		`UPDATE tickets SET team = 'support' WHERE id = 99003`,
	})
	// marketing → legal, given a new id, → hr: left marketing, never legal
	execEach(t, ctx, tx, "", []string{
		`UPDATE tickets SET team = 'legal' WHERE id = $1`,
		`UPDATE tickets SET id = 99005 WHERE id = $1`,
		`UPDATE tickets SET team = 'hr' WHERE id = 99005 AND $1::bigint > 0`,
	}, tickets[2].ID)
	if _, err := tx.Exec(ctx, `UPDATE tickets SET team = 'accounts' WHERE id = $1`, tickets[1].ID); err != nil { // billing → accounts …
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM tickets WHERE id = $1`, tickets[1].ID); err != nil { // … then deleted: left billing, never accounts
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	portstest.WaitChanges(t, s, start, 100, 5)
	if ids, err := s.Departed(ctx, start, []string{"sales"}); err != nil || !slices.Equal(ids, []int64{tickets[0].ID}) {
		t.Fatalf("Departed from sales = %v, %v; want only ticket %d, moved on through billing", ids, err, tickets[0].ID)
	}
	if ids, err := s.Departed(ctx, start, []string{"marketing"}); err != nil || !slices.Equal(ids, []int64{tickets[2].ID}) {
		t.Fatalf("Departed from marketing = %v, %v; want only ticket %d, moved on through legal under a new id", ids, err, tickets[2].ID)
	}
	if ids, err := s.Departed(ctx, start, []string{"legal"}); err != nil || len(ids) != 0 {
		t.Fatalf("Departed from legal = %v, %v; want none: no reader ever saw a ticket there", ids, err)
	}
	if ids, err := s.Departed(ctx, start, []string{"accounts"}); err != nil || len(ids) != 0 {
		t.Fatalf("Departed from accounts = %v, %v; want none: no reader ever saw a ticket there", ids, err)
	}
	ids, err := s.Departed(ctx, start, []string{"billing"})
	if err != nil || len(ids) != 1 || ids[0] != tickets[1].ID {
		t.Fatalf("Departed from billing = %v, %v; want only ticket %d, deleted from billing", ids, err, tickets[1].ID)
	}
}

// A ticket that a transaction changes and then moves to another team left
// the team it had before the transaction: the earlier statement stamped
// the row with the transaction's position, which must not make the team it
// had look like one held only inside the transaction. A dashboard of that
// team that resumes would keep the ticket for good.
func TestPostgres_ATicketChangedThenMovedInOneTransactionLeftItsTeam(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	tickets := demodata.New(5).Tickets(2)
	tickets[0].Team, tickets[1].Team = "billing", "billing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	conn, err := pgx.Connect(ctx, s.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		q  string
		id int64
	}{
		{`UPDATE tickets SET status = 'solved' WHERE id = $1`, tickets[0].ID}, // changed in billing …
		{`UPDATE tickets SET team = 'accounts' WHERE id = $1`, tickets[0].ID}, // … then moved: left billing
		{`UPDATE tickets SET subject = 'x' WHERE id = $1`, tickets[1].ID},     // changed in billing …
		{`DELETE FROM tickets WHERE id = $1`, tickets[1].ID},                  // … then deleted: left billing
	} {
		if _, err := tx.Exec(ctx, st.q, st.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	portstest.WaitChanges(t, s, start, 100, 2)
	ids, err := s.Departed(ctx, start, []string{"billing"})
	if err != nil || len(ids) != 2 {
		t.Fatalf("Departed from billing = %v, %v; want tickets %d and %d", ids, err, tickets[0].ID, tickets[1].ID)
	}
}

// The births a transaction records matter only while it writes: the
// prune lets go of those of ended transactions, whatever the retention. A
// bulk load (InsertTickets, as seed runs it) records none.
func TestPostgres_PruneForgetsTheBirthsOfEndedTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	db, err := s.Gorm().DB()
	if err != nil {
		t.Fatal(err)
	}
	births := func() (n int) {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ticket_births`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.InsertTickets(ctx, demodata.New(6).Tickets(3)); err != nil {
		t.Fatal(err)
	}
	if n := births(); n != 0 {
		t.Fatalf("a bulk load of 3 tickets recorded %d births, want none", n)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO tickets (id, team, subject, status, priority, requester)
		SELECT 90000 + g, 'billing', 's', 'open', 'low', 'r@example.com' FROM generate_series(1, 3) g`); err != nil {
		t.Fatal(err)
	}
	_, at := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, 6)
	if n := births(); n != 3 {
		t.Fatalf("%d births recorded for an insert of 3 tickets, want 3", n)
	}
	if _, err := s.PruneRemovals(ctx, time.Now().Add(-time.Hour), at); err != nil {
		t.Fatal(err)
	}
	if n := births(); n != 0 {
		t.Fatalf("%d births left after the prune, want 0: their transaction ended", n)
	}
}

// SQLite's INSERT OR REPLACE deletes the row it replaces without firing
// its delete trigger: a replacement in another team is a departure all the
// same, at the replacement's own position. A plain INSERT of an existing
// id fails and leaves no departure behind.
func TestSQLite_AReplacementInAnotherTeamIsADeparture(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.SQLite, nil, gormstore.Config{})
	tickets := demodata.New(11).Tickets(2)
	tickets[0].Team, tickets[1].Team = "billing", "billing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	db, err := s.Gorm().DB()
	if err != nil {
		t.Fatal(err)
	}
	const row = `(id, team, subject, status, priority, requester, assignee, tags, created_at, updated_at) VALUES (?, ?, 's', 'open', 'low', 'r@example.com', '', '[]', 1767225600000000, 1767225600000000)`
	if _, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO tickets `+row, tickets[0].ID, "sales"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO tickets `+row, tickets[1].ID, "sales"); err == nil {
		t.Fatal("a plain INSERT of an existing id succeeded")
	}
	got, _ := portstest.WaitChanges(t, s, start, 100, 1)
	if len(got) != 1 || got[0].Ticket.ID != tickets[0].ID || got[0].Ticket.Team != "sales" {
		t.Fatalf("read %+v, want ticket %d now in sales", got, tickets[0].ID)
	}
	ids, err := s.Departed(ctx, start, []string{"billing"})
	if err != nil || len(ids) != 1 || ids[0] != tickets[0].ID {
		t.Fatalf("Departed from billing = %v, %v; want only the replaced ticket %d", ids, err, tickets[0].ID)
	}
}

// Another program needs only INSERT, UPDATE and DELETE on tickets: the
// triggers that record births, departures and removals run with their
// owner's rights (00007_trigger_rights.sql), and still record them.
func TestPostgres_AWriterWithRightsOnTicketsOnlyIsRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	tickets := demodata.New(12).Tickets(2)
	tickets[0].Team, tickets[1].Team = "billing", "billing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	writer, _ := writerRole(t, s, false)
	for _, st := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO tickets (id, team, subject, status, priority, requester) VALUES (99001, 'billing', 's', 'open', 'low', 'r@example.com')`, nil},
		{`UPDATE tickets SET team = 'sales' WHERE id = $1`, []any{tickets[0].ID}},
		{`DELETE FROM tickets WHERE id = $1`, []any{tickets[1].ID}},
	} {
		if _, err := writer.Exec(ctx, st.q, st.args...); err != nil {
			t.Fatalf("as a writer with rights on tickets only: %s: %v", st.q, err)
		}
	}
	portstest.WaitChanges(t, s, start, 100, 3)
	ids, err := s.Departed(ctx, start, []string{"billing"})
	slices.Sort(ids)
	want := []int64{tickets[0].ID, tickets[1].ID}
	slices.Sort(want)
	if err != nil || !slices.Equal(ids, want) {
		t.Fatalf("departures from billing recorded for the writer's changes: %v, %v; want %d (moved) and %d (deleted), not 99001", ids, err, tickets[0].ID, tickets[1].ID)
	}
}
