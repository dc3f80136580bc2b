package gormstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// writerRole creates a login role with rights on tickets only and returns
// a connection of it, and one of the owner's. With ownSchema, the role has
// a schema of its own and the connection's search_path is that schema
// alone: a writer that names the help desk's tables by schema
// (public.tickets) and could shadow, in its own schema, any name the
// feed's trigger leaves unqualified.
func writerRole(t *testing.T, s *gormstore.Store, ownSchema bool) (writer, admin *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	admin = connect(t, s.Target())
	role := fmt.Sprintf("ts_writer_%d", time.Now().UnixNano())
	setup := []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON tickets TO ` + role,
	}
	if ownSchema {
		setup = append(setup, `CREATE SCHEMA `+role+` AUTHORIZATION `+role)
	}
	for _, q := range setup {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = admin.Exec(ctx, `DROP OWNED BY `+role)
		_, _ = admin.Exec(ctx, `DROP ROLE `+role)
	})
	cfg, err := pgx.ParseConfig(s.Target())
	if err != nil {
		t.Fatal(err)
	}
	cfg.User = role
	if ownSchema {
		cfg.RuntimeParams["search_path"] = role
	}
	writer, err = pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { writer.Close(context.Background()) })
	return writer, admin
}

// The feed's one UPDATE trigger (migration 00015) calls the functions that
// record departures and births by their schema: a writer whose search_path
// does not hold them, and that has functions and a table of those names in
// a schema of its own, is still recorded — its move a departure, its new id
// a birth — and its decoys are never called.
func TestPostgres_AWriterWithItsOwnSearchPathIsRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	tickets := demodata.New(21).Tickets(2)
	tickets[0].Team, tickets[1].Team = "billing", "billing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	writer, admin := writerRole(t, s, true)
	for _, q := range []string{
		`CREATE TABLE ticket_departures (id bigint, change_pos bigint, team text)`,
		`CREATE TABLE decoy_calls (name text)`,
		`CREATE FUNCTION ticketstream_note_departure(old_id bigint, old_team text, new_id bigint) RETURNS void
		 LANGUAGE sql AS $$ INSERT INTO decoy_calls VALUES ('departure') $$`,
		`CREATE FUNCTION ticketstream_note_new_id(new_id bigint) RETURNS void
		 LANGUAGE sql AS $$ INSERT INTO decoy_calls VALUES ('new id') $$`,
		`UPDATE public.tickets SET team = 'sales' WHERE id = ` + fmt.Sprint(tickets[0].ID),
		`UPDATE public.tickets SET id = 99002, subject = 'renumbered' WHERE id = ` + fmt.Sprint(tickets[1].ID),
	} {
		if _, err := writer.Exec(ctx, q); err != nil {
			t.Fatalf("as a writer with its own search_path: %s: %v", q, err)
		}
	}
	portstest.WaitChanges(t, s, start, 100, 2)
	ids, err := s.Departed(ctx, start, []string{"billing"})
	if err != nil || !slices.Equal(ids, []int64{tickets[0].ID}) {
		t.Errorf("departures from billing: %v, %v; want the moved ticket %d", ids, err, tickets[0].ID)
	}
	var births int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM public.ticket_births WHERE id = 99002`).Scan(&births); err != nil || births != 1 {
		t.Errorf("births of the new id 99002: %d, %v; want 1", births, err)
	}
	var calls, decoyDepartures int
	if err := writer.QueryRow(ctx, `SELECT (SELECT count(*) FROM decoy_calls), (SELECT count(*) FROM ticket_departures)`).Scan(&calls, &decoyDepartures); err != nil || calls != 0 || decoyDepartures != 0 {
		t.Errorf("the writer's decoys: %d calls and %d departures, %v; want none", calls, decoyDepartures, err)
	}
}

// The functions the UPDATE trigger calls to record a departure or a birth
// run with their owner's rights and, unlike a trigger function, anyone can
// call them. A call from outside a trigger is refused, with a message that
// says so; one from a writer's own trigger, on a table of its own, records
// no departure from a team the ticket does not have, nor a birth of an id a
// ticket has: nothing that could tell a team's dashboards of a ticket that
// was never theirs.
func TestPostgres_TheUpdateTriggersHelpersTrustNoCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	tickets := demodata.New(22).Tickets(1)
	tickets[0].Team = "billing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	writer, admin := writerRole(t, s, true)
	id := fmt.Sprint(tickets[0].ID)

	for _, q := range []string{
		`SELECT public.ticketstream_note_departure(` + id + `, 'secret-team', ` + id + `)`,
		`SELECT public.ticketstream_note_new_id(` + id + `)`,
	} {
		_, err := writer.Exec(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "called by the change feed's trigger only") {
			t.Errorf("%s from outside a trigger: %v; want it refused, saying why", q, err)
		}
	}

	// From a trigger of the writer's own, on its own table.
	for _, q := range []string{
		`CREATE TABLE forge (id bigint, team text)`,
		`CREATE FUNCTION forge() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN
		     PERFORM public.ticketstream_note_departure(NEW.id, NEW.team, NEW.id);
		     PERFORM public.ticketstream_note_new_id(NEW.id);
		     RETURN NEW;
		 END $$`,
		`CREATE TRIGGER forge BEFORE INSERT ON forge FOR EACH ROW EXECUTE FUNCTION forge()`,
		`INSERT INTO forge VALUES (` + id + `, 'secret-team')`,
	} {
		if _, err := writer.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// A real change after the forgery, so that the forged transaction is
	// behind the feed's position when Departed is asked.
	if _, err := writer.Exec(ctx, `UPDATE public.tickets SET subject = 'after the forgery' WHERE id = `+id); err != nil {
		t.Fatal(err)
	}
	portstest.WaitChanges(t, s, start, 100, 1)
	if ids, err := s.Departed(ctx, start, []string{"secret-team"}); err != nil || len(ids) != 0 {
		t.Errorf("departures from secret-team after a forged call: %v, %v; want none", ids, err)
	}
	var births int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM public.ticket_births WHERE id = $1`, tickets[0].ID).Scan(&births); err != nil || births != 0 {
		t.Errorf("births of ticket %d, which had its id all along: %d, %v; want none", tickets[0].ID, births, err)
	}
}
