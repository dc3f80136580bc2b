package gormstore_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// a cursor left mid-way through transaction B, while an older
// transaction A was still open (pending in the cursor), resumes after A has
// committed. The resume first reads the rest of B (partPhase); the positions
// it hands out for those changes claim A was read, though A comes later in
// the same read. A dashboard that hangs up after one of those changes and
// resumes from it never gets A's change.
func TestFeed_ResumeMidTransactionClaimsNoOtherTransactionYetUnread(t *testing.T) {
	t.Parallel()
	s, url := openPostgres(t)
	ctx := context.Background()
	tickets := demodata.New(9).Tickets(10)
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, 10)

	connect := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	a, b := connect(), connect()
	txA, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txA.Exec(ctx, `UPDATE tickets SET subject = 'by A' WHERE id = $1`, tickets[0].ID); err != nil {
		t.Fatal(err)
	}
	txB, err := b.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tickets[1:] {
		if _, err := txB.Exec(ctx, `UPDATE tickets SET subject = 'by B' WHERE id = $1`, tk.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := txB.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	// The dashboard reads B with A open, small pages, and keeps the
	// position after B's second change: B read in part, A pending.
	got, _ := portstest.ReadAll(t, s, start, domain.ChangePos{}, 2)
	if len(got) != 9 {
		t.Fatalf("read %d changes of B, want 9", len(got))
	}
	cursor := got[1].Pos
	t.Logf("cursor mid-B with A open: %v", cursor)
	if len(cursor.Pending) == 0 || cursor.Seq == 0 {
		t.Fatalf("cursor %v: want B read in part and A pending", cursor)
	}

	// A commits; the dashboard resumes from the cursor and hangs up after
	// the first change it gets (the rest of B).
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	resumed := readRaw(t, s, cursor, 2)
	sawA := false
	for _, c := range resumed {
		if c.Ticket.ID == tickets[0].ID && c.Ticket.Subject == "by A" {
			sawA = true
		}
	}
	if !sawA || len(resumed) != 8 {
		t.Fatalf("the resume read %d changes (A's among them: %v), want the 7 left of B and A's", len(resumed), sawA)
	}
	second := resumed[0].Pos
	t.Logf("position after the first change of the resume: %v (A's change not yet sent)", second)

	// It resumes again from there: A's change must still come.
	again := readRaw(t, s, second, 2)
	for _, c := range again {
		if c.Ticket.ID == tickets[0].ID && c.Ticket.Subject == "by A" {
			return
		}
	}
	t.Fatalf("resuming from %v (handed out before A's change was sent) read %d changes without A's: A's change is lost", second, len(again))
}

// readRaw reads every change after `after`, without ReadAll's checks of
// the positions: what a dashboard would be sent.
func readRaw(t testing.TB, feed ports.ChangeFeed, after domain.ChangePos, batchSize int) []ports.Change {
	t.Helper()
	var out []ports.Change
	_, err := feed.ReadChanges(context.Background(), after, domain.ChangePos{}, batchSize, ports.ChangeHandlerFunc(func(batch []ports.Change) error {
		for _, c := range batch {
			c.Ticket.Tags = append([]string(nil), c.Ticket.Tags...)
			out = append(out, c)
		}
		return nil
	}))
	if err != nil {
		t.Fatalf("ReadChanges: %v", err)
	}
	return out
}

// transaction S moves tickets 2..10 from team A to B; a
// dashboard reads S in part (up to ticket 3) and hangs up. Meanwhile T
// edits ticket 8 (already in B). The resume reads the rest of S
// (partPhase), then T's version of ticket 8. The departures, asked from the
// cursor, still name ticket 8 as having left A: a team-A dashboard that
// resumes there is told to drop it. No transaction is held open here.
func TestFeed_ResumeMidTransactionKeepsTheDeparturesOfItsRest(t *testing.T) {
	t.Parallel()
	s, url := openPostgres(t)
	ctx := context.Background()
	tickets := demodata.New(9).Tickets(10)
	for i := range tickets {
		tickets[i].Team = "A"
	}
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, 10)
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `UPDATE tickets SET team = 'B' WHERE id <> $1`, tickets[0].ID); err != nil { // S
		t.Fatal(err)
	}
	got, _ := portstest.ReadAll(t, s, start, domain.ChangePos{}, 2)
	cursor := got[1].Pos // S read up to its second ticket
	moved := got[5].Ticket.ID
	t.Logf("cursor %v; ticket %d will change again", cursor, moved)
	if _, err := c.Exec(ctx, `UPDATE tickets SET subject = 'edited in B' WHERE id = $1`, moved); err != nil { // T
		t.Fatal(err)
	}
	readRaw(t, s, cursor, 2)
	if ids, err := s.Departed(ctx, cursor, []string{"A"}); err != nil || !slices.Contains(ids, moved) {
		t.Fatalf("resuming from %v, Departed from A = %v, %v: nothing says ticket %d left team A, and a team-A dashboard keeps it", cursor, ids, err, moved)
	}
}
