package gormstore_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A tickets table filled by a logical replication subscription is written
// by the subscription's apply worker, which fires row triggers only: the
// deletes it applied were never recorded (the removal trigger is a
// statement trigger), so a ticket deleted on the publisher stayed on every
// dashboard. The shared server runs with wal_level=replica, so the test
// starts a server of its own with wal_level=logical, and replicates from
// one of its databases to another: a single delete, a bulk delete of
// thousands of rows in one statement, a ticket moved to another team and
// deleted in one transaction, and an update — and, on the subscriber, a
// data loader's replica-role session deleting a ticket itself, which must
// be recorded once, as before. The schema's owner (who ran the migrations)
// is a superuser, and — as docs/operations.md advises — a role without
// rights over the sessions of others, the apply worker's included.
func TestFeed_PostgresReadsALogicalReplicationSubscriptionsDeletes(t *testing.T) {
	t.Parallel()
	admin := pgtest.StartPrivateServer(t, "wal_level=logical")
	if _, err := connect(t, admin).Exec(context.Background(), `CREATE ROLE ticketstream_owner LOGIN`); err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"postgres", "ticketstream_owner"} {
		t.Run("owner="+owner, func(t *testing.T) { readsReplicatedDeletes(t, admin, owner) })
	}
}

// readsReplicatedDeletes is TestFeed_PostgresReadsALogicalReplicationSubscriptionsDeletes
// with the tickets schemas owned by owner.
func readsReplicatedDeletes(t *testing.T, admin, owner string) {
	ctx := context.Background()
	pubName, subName := "publisher_"+owner, "subscriber_"+owner
	pubURL, subURL := privateDatabase(t, admin, pubName, owner), privateDatabase(t, admin, subName, owner)

	const total, bulk = 3000, 2000
	tickets := demodata.New(41).Tickets(total)
	openStoreAt(t, pubURL, tickets)
	subscriber := openStoreAt(t, subURL, nil)
	pub := connect(t, pubURL)
	sub := connect(t, asUser(subURL, "postgres"))
	// One database of the server subscribes to another: the slot is made
	// beforehand, since CREATE SUBSCRIPTION would wait for itself.
	if _, err := pub.Exec(ctx, `CREATE PUBLICATION tickets_pub FOR TABLE tickets`); err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, asUser(pubURL, "postgres")).Exec(ctx, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, subName); err != nil {
		t.Fatal(err)
	}
	// A setting of the database cannot switch the apply worker's recording
	// off: the answer it keeps names its session.
	if _, err := sub.Exec(ctx, `ALTER DATABASE `+subName+` SET ticketstream.applies_replication = 'off'`); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(pubURL)
	conninfo := fmt.Sprintf("host=%s port=%s dbname=%s user=postgres", u.Hostname(), u.Port(), pubName)
	if _, err := sub.Exec(ctx, `CREATE SUBSCRIPTION `+subName+` CONNECTION '`+conninfo+`' PUBLICATION tickets_pub
		WITH (create_slot = false, slot_name = '`+subName+`')`); err != nil {
		t.Fatalf("CREATE SUBSCRIPTION: %v", err)
	}
	waitRows(t, sub, `SELECT count(*) FROM tickets`, total)
	start, err := subscriber.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}

	id := func(i int) string { return strconv.FormatInt(tickets[i].ID, 10) }
	bulkIDs := make([]int64, bulk)
	for i := range bulk {
		bulkIDs[i] = tickets[10+i].ID
	}
	moved := tickets[3]
	for _, sql := range []string{
		`UPDATE tickets SET subject = 'replicated update' WHERE id = ` + id(0),
		`DELETE FROM tickets WHERE id = ` + id(1),
		`BEGIN`,
		`UPDATE tickets SET team = team || '-moved' WHERE id = ` + id(3),
		`DELETE FROM tickets WHERE id = ` + id(3),
		`COMMIT`,
	} {
		if _, err := pub.Exec(ctx, sql); err != nil {
			t.Fatalf("publisher: %s: %v", sql, err)
		}
	}
	if _, err := pub.Exec(ctx, `DELETE FROM tickets WHERE id = ANY($1)`, bulkIDs); err != nil {
		t.Fatalf("publisher: bulk delete: %v", err)
	}
	// Tickets that were in team "passing" only inside one transaction —
	// inserted there, then deleted or moved on — never left it: no reader
	// saw them in it.
	const bornAndDeleted, bornAndMoved = 990001, 990002
	for _, sql := range []string{
		`BEGIN`,
		`INSERT INTO tickets (id, team, subject, status, priority, requester, assignee, tags)
		 VALUES (990001, 'passing', 'born and deleted', 'open', 'low', 'r@example.com', '', '{}'),
		        (990002, 'passing', 'born and moved', 'open', 'low', 'r@example.com', '', '{}')`,
		`DELETE FROM tickets WHERE id = 990001`,
		`UPDATE tickets SET team = 'elsewhere' WHERE id = 990002`,
		`INSERT INTO tickets (id, team, subject, status, priority, requester, assignee, tags)
		 VALUES (990003, 'passing', 'born, given a new id and moved', 'open', 'low', 'r@example.com', '', '{}')`,
		`UPDATE tickets SET id = 990004 WHERE id = 990003`,
		`UPDATE tickets SET team = 'elsewhere' WHERE id = 990004`,
		`COMMIT`,
	} {
		if _, err := pub.Exec(ctx, sql); err != nil {
			t.Fatalf("publisher: %s: %v", sql, err)
		}
	}
	// A data loader on the subscriber, in replica role, deletes one itself;
	// its statement trigger records it, and the row triggers step aside.
	for _, sql := range []string{`SET session_replication_role = replica`, `DELETE FROM tickets WHERE id = ` + id(2)} {
		if _, err := sub.Exec(ctx, sql); err != nil {
			t.Fatalf("subscriber: %s: %v", sql, err)
		}
	}
	var gate string
	if err := sub.QueryRow(ctx, `SELECT current_setting('ticketstream.applies_replication', true)`).Scan(&gate); err != nil || !strings.HasPrefix(gate, "off:") {
		t.Errorf("a data loader's session taken for a replication worker: ticketstream.applies_replication = %q, %v; want off:<its pid>", gate, err)
	}
	waitRows(t, sub, `SELECT count(*) FROM tickets`, total-bulk-3+2)
	waitRows(t, sub, `SELECT count(*) FROM tickets WHERE subject = 'replicated update'`, 1)

	got, _ := portstest.WaitChanges(t, subscriber, start, 500, bulk+7)
	removed := map[int64]int{}
	var updated []ports.Change
	for _, c := range got {
		if c.Removed {
			removed[c.Ticket.ID]++
		} else {
			updated = append(updated, c)
		}
	}
	wantRemoved := append([]int64{tickets[1].ID, tickets[2].ID, moved.ID, bornAndDeleted}, bulkIDs...)
	for _, id := range wantRemoved {
		if removed[id] != 1 {
			t.Errorf("ticket %d deleted: read as removed %d times, want once", id, removed[id])
		}
	}
	if len(removed) != len(wantRemoved) {
		t.Errorf("read %d removals, want %d", len(removed), len(wantRemoved))
	}
	if len(updated) != 3 || updated[0].Ticket.ID != tickets[0].ID || updated[0].Ticket.Subject != "replicated update" ||
		updated[1].Ticket.ID != bornAndMoved || updated[1].Ticket.Team != "elsewhere" ||
		updated[2].Ticket.ID != 990004 || updated[2].Ticket.Team != "elsewhere" {
		t.Errorf("read updates %+v, want ticket %d's, and %d and 990004 in team elsewhere", updated, tickets[0].ID, bornAndMoved)
	}
	if left, err := subscriber.Departed(ctx, start, []string{"passing"}); err != nil || len(left) != 0 {
		t.Errorf("departures from team passing: %v, %v; want none: its tickets were there only inside one transaction", left, err)
	}
	// A team-scoped dashboard that resumes is told of the deleted tickets
	// it may hold: the moved one left the team it had before.
	for _, c := range []struct {
		team string
		id   int64
	}{{moved.Team, moved.ID}, {tickets[1].Team, tickets[1].ID}, {tickets[10].Team, tickets[10].ID}} {
		left, err := subscriber.Departed(ctx, start, []string{c.team})
		if err != nil || !slices.Contains(left, c.id) {
			t.Errorf("departures from %s since the start: %d tickets, %v; want ticket %d among them", c.team, len(left), err, c.id)
		}
	}
}

// privateDatabase creates a database named name, owned by owner, on the
// private server at admin and returns its URL, connecting as owner.
func privateDatabase(t *testing.T, admin, name, owner string) string {
	t.Helper()
	c := connect(t, admin)
	if _, err := c.Exec(context.Background(), `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` OWNER `+pgx.Identifier{owner}.Sanitize()); err != nil {
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	u, _ := url.Parse(asUser(admin, owner))
	u.Path = "/" + name
	return u.String()
}

// asUser returns rawURL connecting as user.
func asUser(rawURL, user string) string {
	u, _ := url.Parse(rawURL)
	u.User = url.User(user)
	return u.String()
}

// waitRows waits until query, a count, returns want.
func waitRows(t *testing.T, c *pgx.Conn, query string, want int) {
	t.Helper()
	var n int
	for deadline := time.Now().Add(60 * time.Second); ; {
		if err := c.QueryRow(context.Background(), query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d after 60s, want %d", query, n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
