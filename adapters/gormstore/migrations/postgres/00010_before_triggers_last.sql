-- The feed's UPDATE triggers run last of a row's BEFORE UPDATE triggers, and
-- the departure is recorded there instead of in an AFTER trigger.
--
-- PostgreSQL fires a table's triggers of one kind in the order of their
-- names. Named zz_ticketstream_*, ours come after a writer's own (a
-- set_updated_at, a routing rule that picks the team), so they see the row
-- as it will be written: an UPDATE that changes nothing itself but whose
-- own trigger changes a column is stamped and delivered, and a team that
-- such a trigger sets is a departure. A writer's trigger that cancels the
-- update (returns NULL) before ours leaves nothing to record.
--
-- An AFTER UPDATE row trigger cost writers about 3% of their commits even
-- when its WHEN failed, as it does for every update that keeps the team
-- (BenchmarkWriterCommits). A departure recorded by a BEFORE trigger can
-- still be undone, by a writer's BEFORE trigger sorting after ours that
-- returns NULL, which leaves the ticket in the team it "left". That
-- departure names a team the ticket had, committed, at the update, and
-- Departed is only asked of tickets that are out of the dashboard's scope
-- now: for such a ticket to be out of that team now, a later change took
-- it out, a real departure from the same team. So it tells no dashboard
-- anything it may not know, and drops no ticket (app.Streamer.RestoreView).
-- A writer's trigger that sorts after zz_ticketstream_* (names compare
-- byte by byte: zzz…, {…, ~…, or any non-ASCII first letter) and changes
-- the team would go unrecorded: the server warns of one at start
-- (Store.warnLateTriggers), and docs/operations.md says so.

-- The departure is recorded under the ticket's id before the update
-- (OLD.id), and, when the update changes the id too, under the new one if
-- no other ticket has it: a dashboard may hold the ticket under the new id
-- (its old holder was renumbered first) or the old one (a ticket that takes
-- it later). An update onto an id another ticket has cannot succeed — the
-- primary key is checked at once — so it is cancelled or fails: recording
-- under that id would name another ticket and a team it never had, and
-- hide its own departure later in the transaction. The feed does not follow
-- id changes otherwise.
--
-- Swapping the triggers takes the table's strongest lock, which waits for
-- every open transaction that used tickets, and every writer queues behind
-- it: after 10 s the migration gives up instead, and the server that
-- applies it does not start (docs/operations.md, Upgrades).

-- +goose Up
SET LOCAL lock_timeout = '10s';
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_departure() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    xid bigint := pg_current_xact_id()::text::bigint;
BEGIN
    IF OLD.change_pos IS DISTINCT FROM xid
       OR NOT (EXISTS (SELECT 1 FROM ticket_departures WHERE id = OLD.id AND change_pos = xid)
               OR EXISTS (SELECT 1 FROM ticket_births WHERE id IN (NEW.id, OLD.id) AND change_pos = xid)) THEN
        INSERT INTO ticket_departures (id, change_pos, team)
        VALUES (OLD.id, xid, OLD.team)
        ON CONFLICT DO NOTHING;
        IF NEW.id IS DISTINCT FROM OLD.id AND NOT EXISTS (SELECT 1 FROM tickets WHERE id = NEW.id) THEN
            INSERT INTO ticket_departures (id, change_pos, team)
            VALUES (NEW.id, xid, OLD.team)
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS tickets_record_departure ON tickets;
CREATE TRIGGER zz_ticketstream_departure BEFORE UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.team IS DISTINCT FROM NEW.team)
    EXECUTE FUNCTION ticketstream_record_departure();

DROP TRIGGER IF EXISTS tickets_stamp_update ON tickets;
CREATE TRIGGER zz_ticketstream_stamp BEFORE UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION ticketstream_stamp_change();

-- +goose Down
SET LOCAL lock_timeout = '10s';
DROP TRIGGER IF EXISTS zz_ticketstream_stamp ON tickets;
CREATE TRIGGER tickets_stamp_update BEFORE UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION ticketstream_stamp_change();

DROP TRIGGER IF EXISTS zz_ticketstream_departure ON tickets;
-- 00006's function, as SECURITY DEFINER (00007).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_departure() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    xid bigint := pg_current_xact_id()::text::bigint;
BEGIN
    IF OLD.change_pos IS DISTINCT FROM xid
       OR NOT (EXISTS (SELECT 1 FROM ticket_departures WHERE id = NEW.id AND change_pos = xid)
               OR EXISTS (SELECT 1 FROM ticket_births WHERE id IN (NEW.id, OLD.id) AND change_pos = xid)) THEN
        INSERT INTO ticket_departures (id, change_pos, team)
        VALUES (NEW.id, xid, OLD.team)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER tickets_record_departure AFTER UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.team IS DISTINCT FROM NEW.team)
    EXECUTE FUNCTION ticketstream_record_departure();
