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
	execEach(t, ctx, admin, "", setup)
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

// The feed's UPDATE trigger (migration 00015) runs with its owner's rights
// and the writer's search_path, so every name it uses is written with its
// schema. A writer whose search_path puts a schema of its own first —
// holding tables named as the feed's, an = for the tickets row type, for
// text and for bigint that always says equal, and a pg_current_xact_id of
// its own — is still recorded: its move a departure, its new id a birth,
// its changes stamped with its transaction; and its decoys are never used.
func TestPostgres_AWriterWithItsOwnSearchPathIsRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	tickets := demodata.New(21).Tickets(3)
	tickets[0].Team, tickets[1].Team, tickets[2].Team = "billing", "billing", "billing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	writer, admin := writerRole(t, s, true)
	var schema string
	if err := writer.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	execEach(t, ctx, writer, "as a writer with its own search_path", []string{
		`CREATE TABLE ticket_departures (id bigint, change_pos bigint, team text)`,
		`CREATE TABLE ticket_births (id bigint, change_pos bigint)`,
		`CREATE TABLE ticket_removals (id bigint, change_pos bigint)`,
		`CREATE FUNCTION same_ticket(public.tickets, public.tickets) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true'`,
		`CREATE OPERATOR = (LEFTARG = public.tickets, RIGHTARG = public.tickets, FUNCTION = same_ticket)`,
		`CREATE FUNCTION same_text(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true'`,
		`CREATE OPERATOR = (LEFTARG = text, RIGHTARG = text, FUNCTION = same_text)`,
		`CREATE FUNCTION same_bigint(bigint, bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true'`,
		`CREATE OPERATOR = (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = same_bigint)`,
		`CREATE FUNCTION pg_current_xact_id() RETURNS xid8 LANGUAGE sql AS $$ SELECT '42'::xid8 $$`,
		// Its own schema before pg_catalog, which PostgreSQL otherwise
		// searches first.
		`SET search_path = ` + schema + `, pg_catalog`,
		`UPDATE public.tickets SET team = 'sales' WHERE id = ` + fmt.Sprint(tickets[0].ID),
		`UPDATE public.tickets SET id = 99002, subject = 'renumbered' WHERE id = ` + fmt.Sprint(tickets[1].ID),
		`INSERT INTO public.tickets (id, team, subject, status, priority, requester) VALUES (99004, 'sales', 's', 'open', 'low', 'r@example.com')`,
		`DELETE FROM public.tickets WHERE id = ` + fmt.Sprint(tickets[2].ID),
	})
	changes, _ := portstest.WaitChanges(t, s, start, 100, 4)
	for _, ch := range changes {
		if ch.Pos.Seq == 42 {
			t.Errorf("change %+v is stamped with the writer's own pg_current_xact_id", ch)
		}
	}
	ids, err := s.Departed(ctx, start, []string{"billing"})
	slices.Sort(ids)
	want := []int64{tickets[0].ID, tickets[2].ID}
	slices.Sort(want)
	if err != nil || !slices.Equal(ids, want) {
		t.Errorf("departures from billing: %v, %v; want the moved ticket %d and the deleted %d", ids, err, tickets[0].ID, tickets[2].ID)
	}
	var births int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM public.ticket_births WHERE id IN (99002, 99004)`).Scan(&births); err != nil || births != 2 {
		t.Errorf("births of the new id 99002 and the inserted 99004: %d, %v; want 2", births, err)
	}
	var decoys int
	if err := writer.QueryRow(ctx, `SELECT (SELECT count(*) FROM ticket_departures) + (SELECT count(*) FROM ticket_births) + (SELECT count(*) FROM ticket_removals)`).Scan(&decoys); err != nil || decoys != 0 {
		t.Errorf("rows in the writer's own tables: %d, %v; want none", decoys, err)
	}
}

// Where anyone may create objects in a schema on everyone's search_path
// (public, on clusters made before PostgreSQL 15), a role with no rights on
// tickets that puts there an = for the tickets row type that always says
// equal, and temporary tables named as the feed's in its own session,
// changes nothing of what the owner's updates record.
func TestPostgres_ARoleWithoutRightsCannotSwitchTheFeedOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	tickets := demodata.New(22).Tickets(2)
	tickets[0].Team, tickets[1].Team = "billing", "billing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	admin := connect(t, s.Target())
	nobody, _ := writerRole(t, s, false)
	if _, err := admin.Exec(ctx, `REVOKE ALL ON tickets FROM `+nobody.Config().User); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `GRANT CREATE ON SCHEMA public TO PUBLIC`); err != nil {
		t.Fatal(err)
	}
	execEach(t, ctx, nobody, "as a role with no rights on tickets", []string{
		`CREATE FUNCTION public.same_ticket(public.tickets, public.tickets) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true'`,
		`CREATE OPERATOR public.= (LEFTARG = public.tickets, RIGHTARG = public.tickets, FUNCTION = public.same_ticket)`,
	})
	// The owner, on the default search_path, moves one ticket and deletes
	// the other, with temporary tables of the feed's names in its session.
	execEach(t, ctx, admin, "", []string{
		`CREATE TEMP TABLE ticket_departures (id bigint, change_pos bigint, team text)`,
		`CREATE TEMP TABLE ticket_removals (change_pos bigint, id bigint)`,
		`CREATE TEMP TABLE ticket_births (id bigint, change_pos bigint)`,
		`UPDATE tickets SET team = 'sales' WHERE id = ` + fmt.Sprint(tickets[0].ID),
		`DELETE FROM tickets WHERE id = ` + fmt.Sprint(tickets[1].ID),
	})
	portstest.WaitChanges(t, s, start, 100, 2)
	ids, err := s.Departed(ctx, start, []string{"billing"})
	slices.Sort(ids)
	want := []int64{tickets[0].ID, tickets[1].ID}
	slices.Sort(want)
	if err != nil || !slices.Equal(ids, want) {
		t.Errorf("departures from billing: %v, %v; want the moved ticket %d and the deleted %d", ids, err, tickets[0].ID, tickets[1].ID)
	}
	var shadowed int
	if err := admin.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_temp.ticket_departures) + (SELECT count(*) FROM pg_temp.ticket_removals)`).Scan(&shadowed); err != nil || shadowed != 0 {
		t.Errorf("rows in the session's temporary tables: %d, %v; want none", shadowed, err)
	}
}

// A database whose default privileges take EXECUTE on new functions away
// from PUBLIC (a hardening some operators apply) still records a writer's
// move and new id: PostgreSQL checks EXECUTE on a trigger's function when
// the trigger is made, not when it fires, so writers need no right on the
// feed's functions — which migration 00015 takes from everyone anyway.
func TestPostgres_AWriterIsRecordedWhereFunctionsAreNotPublicByDefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newURL(t, gormstore.Postgres)
	if _, err := connect(t, url).Exec(ctx, `ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC`); err != nil {
		t.Fatal(err)
	}
	s := openStoreAt(t, url, nil)
	tickets := demodata.New(23).Tickets(2)
	tickets[0].Team, tickets[1].Team = "billing", "billing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	writer, admin := writerRole(t, s, false)
	execEach(t, ctx, writer, "as a writer where functions are not public by default", []string{
		`UPDATE tickets SET team = 'sales' WHERE id = ` + fmt.Sprint(tickets[0].ID),
		`UPDATE tickets SET id = 99003 WHERE id = ` + fmt.Sprint(tickets[1].ID),
	})
	portstest.WaitChanges(t, s, start, 100, 2)
	if ids, err := s.Departed(ctx, start, []string{"billing"}); err != nil || !slices.Equal(ids, []int64{tickets[0].ID}) {
		t.Errorf("departures from billing: %v, %v; want the moved ticket %d", ids, err, tickets[0].ID)
	}
	var births int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM ticket_births WHERE id = 99003`).Scan(&births); err != nil || births != 1 {
		t.Errorf("births of the new id 99003: %d, %v; want 1", births, err)
	}
}

// The feed's functions that run with their owner's rights are for the
// owner's triggers on tickets alone: a role with no rights cannot attach
// one to a table of its own — a temporary table, which any session may
// make — where it would choose the rows the function records, and reach,
// through a cast on a type of its own, code running as the owner.
func TestPostgres_NoOneElseCanAttachTheFeedsFunctions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	nobody, _ := writerRole(t, s, false)
	if _, err := nobody.Exec(ctx, `CREATE TEMP TABLE forge (id bigint, team text, change_pos bigint)`); err != nil {
		t.Fatal(err)
	}
	for _, trigger := range []string{
		`BEFORE UPDATE ON pg_temp.forge FOR EACH ROW EXECUTE FUNCTION public.ticketstream_stamp_update()`,
		`AFTER INSERT ON pg_temp.forge REFERENCING NEW TABLE AS born FOR EACH STATEMENT EXECUTE FUNCTION public.ticketstream_record_births()`,
		`AFTER DELETE ON pg_temp.forge REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION public.ticketstream_record_removals()`,
		`AFTER INSERT ON pg_temp.forge FOR EACH ROW EXECUTE FUNCTION public.ticketstream_record_replicated_birth()`,
		`AFTER DELETE ON pg_temp.forge FOR EACH ROW EXECUTE FUNCTION public.ticketstream_record_replicated_removal()`,
	} {
		_, err := nobody.Exec(ctx, `CREATE TRIGGER forged `+trigger)
		if err == nil || !strings.Contains(err.Error(), "permission denied for function") {
			t.Errorf("CREATE TRIGGER %s by a role with no rights: %v; want permission denied", trigger, err)
		}
	}
}

// Where anyone may create objects in the feed's schema (public, on clusters
// made before PostgreSQL 15), an operator put there by a role with no
// rights does not run inside the feed's functions: a session that applies
// replication (session_replication_role = replica, as a subscription's
// worker) deletes and inserts tickets, and the owner's functions use
// pg_catalog's || and =, never the planted ones.
func TestPostgres_AnOperatorInASharedSchemaNeverRunsAsTheOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	tickets := demodata.New(24).Tickets(1)
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	admin := connect(t, s.Target())
	nobody, _ := writerRole(t, s, false)
	if _, err := admin.Exec(ctx, `GRANT CREATE ON SCHEMA public TO PUBLIC`); err != nil {
		t.Fatal(err)
	}
	execEach(t, ctx, nobody, "as a role with no rights on tickets", []string{
		`CREATE FUNCTION public.planted(text, integer) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'planted operator ran as %', current_user; END $$`,
		`CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = integer, FUNCTION = public.planted)`,
		`CREATE FUNCTION public.planted_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'planted operator ran as %', current_user; END $$`,
		`CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.planted_eq)`,
	})
	execEach(t, ctx, admin, "in a session that applies replication", []string{
		`SET session_replication_role = replica`,
		`DELETE FROM tickets WHERE id = ` + fmt.Sprint(tickets[0].ID),
		`INSERT INTO tickets (id, team, subject, status, priority, requester) VALUES (99005, 'sales', 's', 'open', 'low', 'r@example.com')`,
	})
}

// A role granted EXECUTE on every function of the schema (GRANT … ON ALL
// FUNCTIONS, or a default privilege), or a database restored without
// privileges, may attach the feed's functions to a table of its own: they
// then refuse to run there, before doing anything, and record nothing.
func TestPostgres_TheFeedsFunctionsRunOnTicketsOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	tickets := demodata.New(25).Tickets(1)
	tickets[0].Team = "billing"
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	admin := connect(t, s.Target())
	granted, _ := writerRole(t, s, false)
	if _, err := admin.Exec(ctx, `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO `+granted.Config().User); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(tickets[0].ID)
	for _, tc := range []struct{ trigger, fire string }{
		{`BEFORE UPDATE ON pg_temp.forge FOR EACH ROW EXECUTE FUNCTION public.ticketstream_stamp_update()`, `UPDATE pg_temp.forge SET team = 'elsewhere'`},
		{`AFTER INSERT ON pg_temp.forge REFERENCING NEW TABLE AS born FOR EACH STATEMENT EXECUTE FUNCTION public.ticketstream_record_births()`, `INSERT INTO pg_temp.forge VALUES (900001, 'x', 0)`},
		{`AFTER DELETE ON pg_temp.forge REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION public.ticketstream_record_removals()`, `DELETE FROM pg_temp.forge`},
		{`AFTER INSERT ON pg_temp.forge FOR EACH ROW EXECUTE FUNCTION public.ticketstream_record_replicated_birth()`, `INSERT INTO pg_temp.forge VALUES (900002, 'x', 0)`},
		{`AFTER DELETE ON pg_temp.forge FOR EACH ROW EXECUTE FUNCTION public.ticketstream_record_replicated_removal()`, `DELETE FROM pg_temp.forge`},
	} {
		execEach(t, ctx, granted, "", []string{
			`DROP TABLE IF EXISTS pg_temp.forge`,
			`CREATE TEMP TABLE forge (id bigint, team text, change_pos bigint)`,
			`INSERT INTO pg_temp.forge VALUES (` + id + `, 'billing', 0)`,
			`CREATE TRIGGER forged ` + tc.trigger,
		})
		_, err := granted.Exec(ctx, tc.fire)
		if err == nil || !strings.Contains(err.Error(), "fire on its table of tickets only") {
			t.Errorf("%s, with %s: %v; want the function to refuse", tc.fire, tc.trigger, err)
		}
	}
	var recorded int
	if err := admin.QueryRow(ctx, `SELECT (SELECT count(*) FROM ticket_departures) + (SELECT count(*) FROM ticket_births WHERE id > 900000) + (SELECT count(*) FROM ticket_removals)`).Scan(&recorded); err != nil || recorded != 0 {
		t.Errorf("rows the attached functions recorded: %d, %v; want none", recorded, err)
	}
}
