package gormstore_test

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// openPostgres opens a migrated store on a fresh PostgreSQL database and
// returns it with the database's URL, for a second connection of its own.
func openPostgres(t *testing.T) (*gormstore.Store, string) {
	t.Helper()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	return s, s.Target()
}

// Transaction A takes its id first, B commits first. B's change is read
// at once, while A stays open — a reader that followed commit order by id
// would pass B and never come back for A; one that waited for A would hold
// every dashboard back — and A's change is read when A commits, once.
func TestFeed_PostgresReadsACommitWhileAnOlderTransactionStaysOpen(t *testing.T) {
	t.Parallel()
	s, url := openPostgres(t)
	ctx := context.Background()
	tickets := demodata.New(9).Tickets(3)
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 10, 3)

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
	if _, err := b.Exec(ctx, `UPDATE tickets SET subject = 'by B' WHERE id = $1`, tickets[1].ID); err != nil {
		t.Fatal(err)
	}

	// B has committed, A has not: B's change is read now.
	got, reached := portstest.WaitChanges(t, s, start, 10, 1)
	if len(got) != 1 || got[0].Ticket.ID != tickets[1].ID || got[0].Ticket.Subject != "by B" {
		t.Fatalf("with A open the feed read %+v, want B's change alone", got)
	}
	if len(reached.Pending) == 0 {
		t.Fatalf("the read reached %v with A open: A must be pending", reached)
	}
	if again, _ := portstest.ReadAll(t, s, reached, domain.ChangePos{}, 10); len(again) != 0 {
		t.Fatalf("a second read with A still open got %+v, want nothing", again)
	}
	w, err := s.OldestWriter(ctx)
	if err != nil || w.PID == 0 || w.Age <= 0 {
		t.Fatalf("OldestWriter with A open = %+v, %v", w, err)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, reached = portstest.WaitChanges(t, s, reached, 10, 1)
	if len(got) != 1 || got[0].Ticket.ID != tickets[0].ID || got[0].Ticket.Subject != "by A" {
		t.Fatalf("after A committed the feed read %+v, want A's change alone", got)
	}
	if again, _ := portstest.ReadAll(t, s, reached, domain.ChangePos{}, 10); len(again) != 0 {
		t.Fatalf("a read after A's change got %+v again", again)
	}
	// ChangedSince, from the position B's change was read at, names A's.
	var since []int64
	if err := s.ChangedSince(ctx, got[0].Pos, func(id int64, _ string, _ bool) error { since = append(since, id); return nil }); err != nil || len(since) != 0 {
		t.Fatalf("ChangedSince after A's change = %v, %v; want none", since, err)
	}
}

// A writing transaction held open in another database of the same server
// — a batch job, a psql session left in BEGIN — holds back nothing: a
// change here is read at once, and a read costs no more pages for it.
func TestFeed_PostgresIgnoresAnotherDatabasesOpenTransaction(t *testing.T) {
	t.Parallel()
	s, _ := openPostgres(t)
	ctx := context.Background()
	pgtest.HoldWriterElsewhere(t)
	start, err := s.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tickets := demodata.New(4).Tickets(3)
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	got, reached := portstest.WaitChanges(t, s, start, 10, 3)
	if len(got) != 3 {
		t.Fatalf("with another database's transaction open the feed read %d changes, want 3", len(got))
	}
	if len(reached.Pending) == 0 || reached.Floor() >= reached.Xmax {
		t.Fatalf("reached %v: the other database's open transaction should be pending", reached)
	}
}

// A ticket written by a later-starting transaction first and an earlier one
// second must end at the second version, never the first.
func TestFeed_PostgresDeliversTheLastCommittedVersion(t *testing.T) {
	t.Parallel()
	s, url := openPostgres(t)
	ctx := context.Background()
	tk := demodata.New(9).Tickets(1)
	if err := s.InsertTickets(ctx, tk); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 10, 1)
	a, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	txA, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A takes the older transaction id, writing elsewhere first.
	if _, err := txA.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	if err := s.Gorm().WithContext(ctx).Exec(`UPDATE tickets SET subject = 'newer xid, first' WHERE id = ?`, tk[0].ID).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := txA.Exec(ctx, `UPDATE tickets SET subject = 'older xid, last' WHERE id = $1`, tk[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := portstest.WaitChanges(t, s, start, 10, 1)
	if len(got) != 1 || got[0].Ticket.Subject != "older xid, last" {
		t.Fatalf("feed read %+v, want the last committed version once", got)
	}
}

// A program that writes change_pos itself cannot hide its rows from the
// feed: the trigger overwrites any value but the writer's own transaction id.
func TestFeed_PostgresOverwritesAForgedPosition(t *testing.T) {
	t.Parallel()
	s, _ := openPostgres(t)
	ctx := context.Background()
	start, err := s.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Gorm().Exec(`INSERT INTO tickets (id, team, subject, status, priority, requester, change_pos)
		VALUES (77, 'billing', 'forged', 'open', 'low', 'r@example.com', 1)`).Error; err != nil {
		t.Fatal(err)
	}
	got, _ := portstest.WaitChanges(t, s, start, 10, 1)
	if len(got) != 1 || got[0].Ticket.ID != 77 {
		t.Fatalf("feed read %+v, want the ticket inserted with a forged position", got)
	}
}

// The hub polls the feed every few milliseconds while nothing changes: such
// a poll must not allocate a page's worth of memory (it once made a 1,000
// change slice, ~20 MB/s of garbage from an idle server).
func TestFeed_IdlePollAllocatesLittle(t *testing.T) {
	s, _ := openPostgres(t)
	ctx := context.Background()
	if err := s.InsertTickets(ctx, demodata.New(3).Tickets(2)); err != nil {
		t.Fatal(err)
	}
	_, at := portstest.WaitChanges(t, s, domain.ChangePos{}, 10, 2)
	h := ports.ChangeHandlerFunc(func([]ports.Change) error {
		t.Error("a change delivered to an idle poll")
		return nil
	})
	poll := func() {
		if _, err := s.ReadChanges(ctx, at, domain.ChangePos{}, ports.DefaultBatchSize, h); err != nil {
			t.Fatal(err)
		}
	}
	poll() // warm the connection and its statement cache
	const polls = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range polls {
		poll()
	}
	runtime.ReadMemStats(&after)
	if perPoll := (after.TotalAlloc - before.TotalAlloc) / polls; perPoll > 16<<10 {
		t.Errorf("an idle poll allocated %d bytes; want at most 16 KB", perPoll)
	}
}

// A writer whose session runs with session_replication_role = replica — a
// data loader, a sync tool — skips a table's ordinary triggers: the feed's
// fire anyway (ENABLE ALWAYS, migration 00011), so its inserts, updates
// and deletes, in one statement each and in one transaction, are read.
func TestFeed_PostgresReadsAReplicaRoleSessionsWrites(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(16).Tickets(4)
	s := openStore(t, gormstore.Postgres, tickets, gormstore.Config{})
	ctx := context.Background()
	start, err := s.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := writerConn(t, s)
	for _, sql := range []string{
		`SET session_replication_role = replica`,
		`UPDATE tickets SET subject = 'replica-role update' WHERE id = ` + strconv.FormatInt(tickets[0].ID, 10),
		`DELETE FROM tickets WHERE id = ` + strconv.FormatInt(tickets[1].ID, 10),
		`INSERT INTO tickets (id, team, subject, status, priority, requester, assignee, tags, created_at, updated_at)
		 SELECT 9001, team, 'replica-role insert', status, priority, requester, assignee, tags, created_at, updated_at FROM tickets WHERE id = ` + strconv.FormatInt(tickets[2].ID, 10),
		`BEGIN`,
		`UPDATE tickets SET team = team || '-moved' WHERE id = ` + strconv.FormatInt(tickets[3].ID, 10),
		`COMMIT`,
	} {
		if _, err := w.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	got, _ := portstest.WaitChanges(t, s, start, 10, 4)
	byID := map[int64]ports.Change{}
	for _, c := range got {
		byID[c.Ticket.ID] = c
	}
	if c := byID[tickets[0].ID]; c.Removed || c.Ticket.Subject != "replica-role update" {
		t.Errorf("the update: %+v", c)
	}
	if c, ok := byID[tickets[1].ID]; !ok || !c.Removed {
		t.Errorf("the delete: %+v, read %v", c, ok)
	}
	if c := byID[9001]; c.Ticket.Subject != "replica-role insert" {
		t.Errorf("the insert: %+v", c)
	}
	if c := byID[tickets[3].ID]; c.Ticket.Team != tickets[3].Team+"-moved" {
		t.Errorf("the move: %+v", c)
	}
	left, err := s.Departed(ctx, start, []string{tickets[3].Team})
	if err != nil || !slices.Contains(left, tickets[3].ID) {
		t.Errorf("departures from %s since the start: %v, %v; want ticket %d", tickets[3].Team, left, err, tickets[3].ID)
	}
}
