-- One BEFORE UPDATE trigger instead of three: what the feed costs a
-- writer's UPDATE falls by more than half.
--
-- zz_ticketstream_departure, zz_ticketstream_new_id and zz_ticketstream_stamp
-- each had a WHEN clause, and PostgreSQL compiles a trigger's WHEN anew for
-- every statement, from its stored text. For the one-row UPDATE most
-- writers send, that compiling was most of what the feed cost them:
-- counted by callgrind in a single-user server
-- (docs/measure/update-instructions.sh), such an UPDATE took 10.6% more
-- instructions with the three triggers than with none, and takes 3.9% more
-- with this one, whose plpgsql tests are planned once per session.
--
-- zz_ticketstream_change does what the three did, in their order, on the
-- row as the writer's own BEFORE triggers left it (00010):
--   - a row the update leaves as it was is not stamped (the old WHEN);
--   - a new team records the departure from the old one;
--   - a new id is a birth (00014);
--   - and the row is stamped with the transaction's id.
-- The departure and the birth write tables writers may not (00007), so
-- they stay SECURITY DEFINER functions of the owner, called only when the
-- team or the id changes. The trigger's own function is not: a function
-- with settings saves and restores them at every call, 2% of an UPDATE. It
-- names the two by their schema, as this migration finds it, so that a
-- writer's own search_path can neither miss them nor put its own in their
-- place.
--
-- Unlike a trigger function, these two can be called, by anyone: a writer's
-- trigger calls them as the writer. So they take nothing on trust that
-- could tell a dashboard what it may not know. They refuse a call from
-- outside a trigger; they stamp with the caller's own transaction; and a
-- departure is recorded only of a team the ticket has, as the caller sees
-- it — what a BEFORE trigger's departure already may be (00010: one a later
-- trigger cancels). A birth is only ever of an id no ticket has, in the
-- caller's transaction, which hides nothing an id change does not (README,
-- Limits: the feed does not follow id changes).

-- Like 00010, this takes a lock that waits for open transactions on
-- tickets: after 10 s the migration gives up instead.

-- +goose Up
SET LOCAL lock_timeout = '10s';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_note_departure(old_id bigint, old_team text, new_id bigint)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    xid bigint := pg_current_xact_id()::text::bigint;
    old_pos bigint;
BEGIN
    IF pg_trigger_depth() = 0 THEN
        RAISE EXCEPTION 'ticketstream_note_departure is called by the change feed''s trigger only';
    END IF;
    -- The row the update is about to replace, as the trigger's OLD: a
    -- departure is only ever of a team the ticket has.
    SELECT change_pos INTO old_pos FROM tickets WHERE id = old_id AND team = old_team;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- As ticketstream_record_departure did (00010): once per ticket and
    -- transaction, and not for a ticket born in it.
    IF old_pos IS DISTINCT FROM xid
       OR NOT (EXISTS (SELECT 1 FROM ticket_departures WHERE id = old_id AND change_pos = xid)
               OR EXISTS (SELECT 1 FROM ticket_births WHERE id IN (new_id, old_id) AND change_pos = xid)) THEN
        INSERT INTO ticket_departures (id, change_pos, team)
        VALUES (old_id, xid, old_team)
        ON CONFLICT DO NOTHING;
        IF new_id IS DISTINCT FROM old_id AND NOT EXISTS (SELECT 1 FROM tickets WHERE id = new_id) THEN
            INSERT INTO ticket_departures (id, change_pos, team)
            VALUES (new_id, xid, old_team)
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_note_new_id(new_id bigint)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF pg_trigger_depth() = 0 THEN
        RAISE EXCEPTION 'ticketstream_note_new_id is called by the change feed''s trigger only';
    END IF;
    -- As ticketstream_record_new_id did (00014): not an id another ticket
    -- has, which the update can only fail on or be cancelled for.
    IF NOT EXISTS (SELECT 1 FROM tickets WHERE id = new_id) THEN
        INSERT INTO ticket_births (id, change_pos) VALUES (new_id, pg_current_xact_id()::text::bigint)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $migration$
BEGIN
    EXECUTE format($create$
CREATE OR REPLACE FUNCTION ticketstream_note_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    noted boolean; -- an assignment takes plpgsql's fast path, PERFORM a whole query
BEGIN
    IF NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NEW;
    END IF;
    IF NEW.team IS DISTINCT FROM OLD.team THEN
        noted := %1$I.ticketstream_note_departure(OLD.id, OLD.team, NEW.id);
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        noted := %1$I.ticketstream_note_new_id(NEW.id);
    END IF;
    NEW.change_pos := pg_catalog.pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$
$create$, current_schema());
END
$migration$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS zz_ticketstream_departure ON tickets;
DROP TRIGGER IF EXISTS zz_ticketstream_new_id ON tickets;
DROP TRIGGER IF EXISTS zz_ticketstream_stamp ON tickets;
DROP FUNCTION IF EXISTS ticketstream_record_departure();
DROP FUNCTION IF EXISTS ticketstream_record_new_id();
DROP TRIGGER IF EXISTS zz_ticketstream_change ON tickets;
CREATE TRIGGER zz_ticketstream_change BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION ticketstream_note_update();
ALTER TABLE tickets ENABLE ALWAYS TRIGGER zz_ticketstream_change;

-- +goose Down
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_new_id() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tickets WHERE id = NEW.id) THEN
        INSERT INTO ticket_births (id, change_pos) VALUES (NEW.id, pg_current_xact_id()::text::bigint)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS zz_ticketstream_change ON tickets;
DROP FUNCTION IF EXISTS ticketstream_note_update();
DROP FUNCTION IF EXISTS ticketstream_note_new_id(bigint);
DROP FUNCTION IF EXISTS ticketstream_note_departure(bigint, text, bigint);
CREATE TRIGGER zz_ticketstream_departure BEFORE UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.team IS DISTINCT FROM NEW.team)
    EXECUTE FUNCTION ticketstream_record_departure();
CREATE TRIGGER zz_ticketstream_new_id BEFORE UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION ticketstream_record_new_id();
CREATE TRIGGER zz_ticketstream_stamp BEFORE UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION ticketstream_stamp_change();
ALTER TABLE tickets ENABLE ALWAYS TRIGGER zz_ticketstream_departure;
ALTER TABLE tickets ENABLE ALWAYS TRIGGER zz_ticketstream_new_id;
ALTER TABLE tickets ENABLE ALWAYS TRIGGER zz_ticketstream_stamp;
