package gormstore_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A help desk may add columns of its own to tickets, of types with no
// equality operator (json, point, xml). The feed's UPDATE trigger once compared
// rows with record_eq, which needs one for every column it reaches: every
// UPDATE that left the columns before such a column as they were failed —
// the writer's own statement, bulk or not. It compares the rows' stored
// images now: such updates succeed and are sent, and an update that
// leaves a row byte for byte as it was is still not stamped.
func TestPostgres_ColumnsWithoutEqualityNeverFailAWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	const n = 2000
	tickets := demodata.New(31).Tickets(n)
	for i := range tickets {
		tickets[i].Team = "billing"
	}
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 1000, n)
	if name, err := s.FoldingTeamCollation(ctx); err != nil || name != "" {
		t.Fatalf("FoldingTeamCollation of the default collation = %q, %v; want none", name, err)
	}
	admin := connect(t, s.Target())
	if _, err := admin.Exec(ctx, `ALTER TABLE tickets ADD COLUMN extra json, ADD COLUMN spot point, ADD COLUMN note xml`); err != nil {
		t.Fatal(err)
	}
	one, two := tickets[0].ID, tickets[1].ID
	writer := writerConn(t, s)
	execEach(t, ctx, writer, "as a writer", []string{
		fmt.Sprintf(`UPDATE tickets SET extra = '{"seen": 1}' WHERE id = %d`, one),
		fmt.Sprintf(`UPDATE tickets SET spot = point(1, 2) WHERE id = %d`, two),
		fmt.Sprintf(`UPDATE tickets SET note = '<seen/>' WHERE id = %d`, tickets[2].ID),
		// A bulk statement of every ticket, changing the json column alone.
		`UPDATE tickets SET extra = '{"seen": 2}'`,
	})
	changes, reached := portstest.WaitChanges(t, s, start, 1000, n)
	if len(changes) != n {
		t.Fatalf("the bulk update of the json column sent %d changes, want %d", len(changes), n)
	}
	// Left byte for byte as it was: not stamped, so not sent again.
	execEach(t, ctx, writer, "as a writer", []string{
		`UPDATE tickets SET extra = extra, spot = spot, note = note`,
		fmt.Sprintf(`UPDATE tickets SET subject = subject WHERE id = %d`, one),
	})
	if again, _ := portstest.ReadAll(t, s, reached, domain.ChangePos{}, 1000); len(again) != 0 {
		t.Errorf("updates that changed nothing sent %d changes, want none", len(again))
	}
}

// Under a case-insensitive collation on team, a change of the team's case
// only was equal to record_eq and to texteq: neither stamped nor recorded
// as a departure, though dashboards match teams byte for byte — a
// dashboard of "billing" kept a ticket now of "Billing", and one of
// "Billing" never heard of it.
func TestPostgres_AChangeOfTeamCaseIsAMoveUnderACaseInsensitiveCollation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	tickets := demodata.New(32).Tickets(2)
	tickets[0].Team, tickets[1].Team = "billing", "billing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	admin := connect(t, s.Target())
	execEach(t, ctx, admin, "", []string{
		`CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
		`ALTER TABLE tickets ALTER COLUMN team TYPE text COLLATE case_insensitive`,
	})
	// The server warns of it at start: snapshots match teams by the
	// collation, the server byte for byte.
	if name, err := s.FoldingTeamCollation(ctx); err != nil || name != "case_insensitive" {
		t.Fatalf("FoldingTeamCollation = %q, %v; want case_insensitive", name, err)
	}
	var logs bytes.Buffer
	_, closeStore, err := gormstore.Open(ctx, gormstore.Config{URL: s.Target()}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	closeStore()
	if !strings.Contains(logs.String(), `level=WARN msg="tickets.team takes teams differing in case or accents for equal`) || !strings.Contains(logs.String(), "collation=case_insensitive") {
		t.Errorf("the start's log does not warn of the collation:\n%s", logs.String())
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	moved := tickets[0].ID
	writer := writerConn(t, s)
	if _, err := writer.Exec(ctx, `UPDATE tickets SET team = 'Billing' WHERE id = $1`, moved); err != nil {
		t.Fatal(err)
	}
	changes, _ := portstest.WaitChanges(t, s, start, 100, 1)
	if len(changes) != 1 || changes[0].Ticket.ID != moved || changes[0].Ticket.Team != "Billing" {
		t.Fatalf("changes after the change of case: %+v, want ticket %d in team Billing", changes, moved)
	}
	ids, err := s.Departed(ctx, start, []string{"billing"})
	if err != nil || !slices.Equal(ids, []int64{moved}) {
		t.Errorf("departures from billing: %v, %v; want the ticket whose team changed case, %d", ids, err, moved)
	}
}

// A team column of type citext compares case-insensitively under the
// default collation: the server warns of it at start too.
func TestPostgres_ACitextTeamIsWarnedOf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	admin := connect(t, s.Target())
	execEach(t, ctx, admin, "", []string{
		`CREATE EXTENSION IF NOT EXISTS citext`,
		`ALTER TABLE tickets ALTER COLUMN team TYPE citext`,
	})
	if name, err := s.FoldingTeamCollation(ctx); err != nil || name != "citext" {
		t.Fatalf("FoldingTeamCollation = %q, %v; want citext", name, err)
	}
}
