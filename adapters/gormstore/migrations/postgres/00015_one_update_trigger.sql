-- One BEFORE UPDATE trigger instead of three: what the feed costs a
-- writer's UPDATE falls by more than half.
--
-- zz_ticketstream_departure, zz_ticketstream_new_id and zz_ticketstream_stamp
-- each had a WHEN clause, and PostgreSQL compiles a trigger's WHEN anew for
-- every statement, from its stored text. For the one-row UPDATE most
-- writers send, that compiling was most of what the feed cost them:
-- counted by callgrind in a single-user server
-- (docs/measure/update-instructions.sh), such an UPDATE took 10.6% more
-- instructions with the three triggers than with none, and takes 4.7%
-- more with this one, whose plpgsql tests are planned once per session.
--
-- zz_ticketstream_stamp now does what the three did, in their order, on
-- the row as the writer's own BEFORE triggers left it (00010):
--   - a row the update leaves as it was is not stamped (the old WHEN);
--   - a new team records the departure from the old one (00010);
--   - a new id is a birth (00014);
--   - and the row is stamped with the transaction's id.
-- It keeps the name of the last of the three, so that a writer's trigger
-- that fired before the first still fires before it, and one that fired
-- between them now fires before it too.
--
-- Its function writes tables writers may not (00007), so it runs with its
-- owner's rights (SECURITY DEFINER), but with no settings of its own: a
-- function with settings (SET search_path) saves and restores them at every
-- call, 2% of an UPDATE. So it runs with the writer's search_path, and
-- every name it uses is written with its schema — tables, functions, types
-- and operators — as this migration finds it: nothing a writer, or anyone
-- who can create objects in a schema on a writer's path, puts on the path
-- can take their place. The old WHEN clauses were bound when the triggers
-- were made, and the old functions had the migration's search_path.
--
-- The other functions that run with their owner's rights (00007, 00014)
-- searched "$user", public — and, before both, the caller's temporary
-- schema, where any session may create a table: a writer with a temporary
-- ticket_departures had its deletes recorded there, and so unseen by
-- dashboards; and an operator put in public by anyone (as PostgreSQL
-- before 15 let everyone) ran as their owner. They now search pg_catalog,
-- then pg_temp, and name their tables by schema.
-- ticketstream_stamp_change, which stamps inserts as the writer, names
-- pg_current_xact_id by its schema: a writer whose search_path put a
-- function of that name first stamped its inserts with what it liked.
--
-- Any role could attach those functions to a temporary table of its own,
-- choose their OLD, NEW and transition rows, and so record departures,
-- removals and births of its choosing — or, through a cast on a type of
-- its own, run its own code as the owner. EXECUTE on them is now the
-- owner's alone (PostgreSQL checks it when a trigger is made, not when it
-- fires), and each refuses, before anything else, to run on any table but
-- tickets: a role granted EXECUTE on every function of the schema, or a
-- database restored without privileges, gets no further.
--
-- Like 00010, this takes a lock that waits for open transactions on
-- tickets: after 10 s the migration gives up instead.

-- +goose Up
SET LOCAL lock_timeout = '10s';

-- +goose StatementBegin
DO $migration$
BEGIN
    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.ticketstream_stamp_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    stamp pg_catalog.int8;
BEGIN
    -- On tickets alone: EXECUTE, which attaching it elsewhere needs, is
    -- the owner's (below), but a grant of a role's own or a restore
    -- without privileges could give it back.
    IF TG_RELID OPERATOR(pg_catalog.<>) %2$L::pg_catalog.regclass::pg_catalog.oid THEN
        RAISE EXCEPTION 'the change feed''s trigger functions fire on its table of tickets only';
    END IF;
    -- As zz_ticketstream_stamp's WHEN (OLD.* IS DISTINCT FROM NEW.*): the
    -- record comparison takes two NULL fields for equal.
    IF pg_catalog.record_eq(NEW, OLD) THEN
        RETURN NEW;
    END IF;
    stamp := pg_catalog.pg_current_xact_id()::pg_catalog.text::pg_catalog.int8;
    -- Each test that reads a table is inside one that does not: plpgsql
    -- evaluates a condition without a query itself, and runs one with a
    -- query through the executor, which for every row would cost more than
    -- the WHEN clauses did.
    --
    -- As ticketstream_record_departure did (00010): once per ticket and
    -- transaction, and not for a ticket born in it.
    IF pg_catalog.texteq(NEW.team, OLD.team) IS NOT TRUE THEN
        IF OLD.change_pos OPERATOR(pg_catalog.<>) stamp
           OR NOT (EXISTS (SELECT 1 FROM %1$I.ticket_departures d
                           WHERE d.id OPERATOR(pg_catalog.=) OLD.id AND d.change_pos OPERATOR(pg_catalog.=) stamp)
                   OR EXISTS (SELECT 1 FROM %1$I.ticket_births b
                              WHERE (b.id OPERATOR(pg_catalog.=) NEW.id OR b.id OPERATOR(pg_catalog.=) OLD.id)
                                AND b.change_pos OPERATOR(pg_catalog.=) stamp)) THEN
            INSERT INTO %1$I.ticket_departures (id, change_pos, team)
            VALUES (OLD.id, stamp, OLD.team)
            ON CONFLICT DO NOTHING;
            IF pg_catalog.int8eq(NEW.id, OLD.id) IS NOT TRUE THEN
                IF NOT EXISTS (SELECT 1 FROM %1$I.tickets t WHERE t.id OPERATOR(pg_catalog.=) NEW.id) THEN
                    INSERT INTO %1$I.ticket_departures (id, change_pos, team)
                    VALUES (NEW.id, stamp, OLD.team)
                    ON CONFLICT DO NOTHING;
                END IF;
            END IF;
        END IF;
    END IF;
    -- As ticketstream_record_new_id did (00014): not an id another ticket
    -- has, which the update can only fail on or be cancelled for.
    IF pg_catalog.int8eq(NEW.id, OLD.id) IS NOT TRUE THEN
        IF NOT EXISTS (SELECT 1 FROM %1$I.tickets t WHERE t.id OPERATOR(pg_catalog.=) NEW.id) THEN
            INSERT INTO %1$I.ticket_births (id, change_pos) VALUES (NEW.id, stamp)
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    NEW.change_pos := stamp;
    RETURN NEW;
END
$$
$create$, current_schema(), format('%I.tickets', current_schema()));

    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.ticketstream_stamp_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_pos := pg_catalog.pg_current_xact_id()::pg_catalog.text::pg_catalog.int8;
    RETURN NEW;
END
$$
$create$, current_schema(), format('%I.tickets', current_schema()));

    -- 00006/00010's, 00010's and 00014's bodies, with the tables and
    -- ticketstream_applies_replication named by their schema, and a
    -- search_path of pg_catalog alone: the temporary schema, where any
    -- session may make a table, comes last and is never searched for
    -- functions and operators.
    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.ticketstream_record_births() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) %2$L::pg_catalog.regclass::pg_catalog.oid THEN
        RAISE EXCEPTION 'the change feed''s trigger functions fire on its table of tickets only';
    END IF;
    IF current_setting('ticketstream.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO %1$I.ticket_births (id, change_pos)
    SELECT id, pg_current_xact_id()::text::bigint FROM born
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
$create$, current_schema(), format('%I.tickets', current_schema()));

    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.ticketstream_record_removals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    xid bigint := pg_current_xact_id()::text::bigint;
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) %2$L::pg_catalog.regclass::pg_catalog.oid THEN
        RAISE EXCEPTION 'the change feed''s trigger functions fire on its table of tickets only';
    END IF;
    INSERT INTO %1$I.ticket_removals (change_pos, id)
    SELECT xid, id FROM removed
    ON CONFLICT DO NOTHING;
    INSERT INTO %1$I.ticket_departures (id, change_pos, team)
    SELECT r.id, xid, r.team FROM removed r
    WHERE NOT EXISTS (SELECT 1 FROM %1$I.ticket_departures d WHERE d.id = r.id AND d.change_pos = xid)
      AND NOT EXISTS (SELECT 1 FROM %1$I.ticket_births b WHERE b.id = r.id AND b.change_pos = xid)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
$create$, current_schema(), format('%I.tickets', current_schema()));

    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.ticketstream_record_replicated_birth() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) %2$L::pg_catalog.regclass::pg_catalog.oid THEN
        RAISE EXCEPTION 'the change feed''s trigger functions fire on its table of tickets only';
    END IF;
    IF NOT %1$I.ticketstream_applies_replication() OR current_setting('ticketstream.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO %1$I.ticket_births (id, change_pos) VALUES (NEW.id, pg_current_xact_id()::text::bigint)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
$create$, current_schema(), format('%I.tickets', current_schema()));

    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.ticketstream_record_replicated_removal() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    xid bigint;
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) %2$L::pg_catalog.regclass::pg_catalog.oid THEN
        RAISE EXCEPTION 'the change feed''s trigger functions fire on its table of tickets only';
    END IF;
    IF NOT %1$I.ticketstream_applies_replication() THEN
        RETURN NULL;
    END IF;
    xid := pg_current_xact_id()::text::bigint;
    INSERT INTO %1$I.ticket_removals (change_pos, id) VALUES (xid, OLD.id)
    ON CONFLICT DO NOTHING;
    IF NOT EXISTS (SELECT 1 FROM %1$I.ticket_departures WHERE id = OLD.id AND change_pos = xid)
       AND NOT EXISTS (SELECT 1 FROM %1$I.ticket_births WHERE id = OLD.id AND change_pos = xid) THEN
        INSERT INTO %1$I.ticket_departures (id, change_pos, team) VALUES (OLD.id, xid, OLD.team)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$
$create$, current_schema(), format('%I.tickets', current_schema()));
END
$migration$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS zz_ticketstream_departure ON tickets;
DROP TRIGGER IF EXISTS zz_ticketstream_new_id ON tickets;
DROP TRIGGER IF EXISTS zz_ticketstream_stamp ON tickets;
DROP FUNCTION IF EXISTS ticketstream_record_departure();
DROP FUNCTION IF EXISTS ticketstream_record_new_id();
CREATE TRIGGER zz_ticketstream_stamp BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION ticketstream_stamp_update();
ALTER TABLE tickets ENABLE ALWAYS TRIGGER zz_ticketstream_stamp;

-- No one but the owner may attach the functions that run with the owner's
-- rights to a table: to one of its own, a temporary table any session may
-- make, a role with no rights at all chose their OLD, NEW and transition
-- rows — departures and removals of any ticket, births of any id — and,
-- through a cast on a type of its own, ran its own code as the owner.
-- PostgreSQL checks EXECUTE when a trigger is made, not when it fires: the
-- triggers on tickets fire for every writer as before.
REVOKE EXECUTE ON FUNCTION ticketstream_stamp_update(), ticketstream_record_births(),
    ticketstream_record_removals(), ticketstream_record_replicated_birth(),
    ticketstream_record_replicated_removal() FROM PUBLIC;

-- +goose Down
SET LOCAL lock_timeout = '10s';

-- 00010's and 00014's functions, hardened as Up hardens the others: the
-- tables by schema, pg_catalog's names alone, and on tickets only.
-- +goose StatementBegin
DO $migration$
BEGIN
    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.ticketstream_record_departure() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    xid bigint := pg_current_xact_id()::text::bigint;
BEGIN
    IF TG_RELID <> %2$L::regclass::oid THEN
        RAISE EXCEPTION 'the change feed''s trigger functions fire on its table of tickets only';
    END IF;
    IF OLD.change_pos IS DISTINCT FROM xid
       OR NOT (EXISTS (SELECT 1 FROM %1$I.ticket_departures WHERE id = OLD.id AND change_pos = xid)
               OR EXISTS (SELECT 1 FROM %1$I.ticket_births WHERE id IN (NEW.id, OLD.id) AND change_pos = xid)) THEN
        INSERT INTO %1$I.ticket_departures (id, change_pos, team)
        VALUES (OLD.id, xid, OLD.team)
        ON CONFLICT DO NOTHING;
        IF NEW.id IS DISTINCT FROM OLD.id AND NOT EXISTS (SELECT 1 FROM %1$I.tickets WHERE id = NEW.id) THEN
            INSERT INTO %1$I.ticket_departures (id, change_pos, team)
            VALUES (NEW.id, xid, OLD.team)
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN NEW;
END
$$
$create$, current_schema(), format('%I.tickets', current_schema()));

    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.ticketstream_record_new_id() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_RELID <> %2$L::regclass::oid THEN
        RAISE EXCEPTION 'the change feed''s trigger functions fire on its table of tickets only';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM %1$I.tickets WHERE id = NEW.id) THEN
        INSERT INTO %1$I.ticket_births (id, change_pos) VALUES (NEW.id, pg_current_xact_id()::text::bigint)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END
$$
$create$, current_schema(), format('%I.tickets', current_schema()));
END
$migration$;
-- +goose StatementEnd

REVOKE EXECUTE ON FUNCTION ticketstream_record_departure(), ticketstream_record_new_id() FROM PUBLIC;
-- The other functions keep the bodies and search_path 00015 gave them.
DROP TRIGGER IF EXISTS zz_ticketstream_stamp ON tickets;
DROP FUNCTION IF EXISTS ticketstream_stamp_update();
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
