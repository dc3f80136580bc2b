-- Deletes, and births, applied by a logical replication subscription are
-- recorded; a ticket's new id is a birth.
--
-- A tickets table filled by a subscription (CREATE SUBSCRIPTION … on this
-- database, the help desk's own database publishing its tickets) is
-- written by the subscription's apply worker. That worker runs with
-- session_replication_role = replica and fires row triggers only: the
-- stamps and the departure of a move (row triggers, ENABLE ALWAYS since
-- 00011) fired, but deletes and births are recorded by statement triggers
-- (tickets_record_removals, tickets_record_births). So a ticket deleted on
-- the publisher stayed on every dashboard, silently, until it loaded
-- afresh; and a ticket a replicated transaction inserted into one team and
-- moved on left a departure from a team no reader saw it in, which told a
-- dashboard of that team that resumed its id (a departure must never name
-- a ticket a team had only inside one transaction: ports.ChangeFeed's
-- DeparturesExact).
--
-- These row triggers record the removal with its departure, and the
-- birth, as the statement triggers do. They are enabled for replica
-- sessions only (ENABLE REPLICA), and do their work only in a background
-- worker — a subscription's apply worker, or another replication tool's:
-- a client's session in replica role (a data loader) fires the statement
-- triggers already (ENABLE ALWAYS), and asks once per session which it is
-- (ticketstream_applies_replication keeps the answer, with the session's
-- process id, in the ticketstream.applies_replication setting, which a
-- setting of a database or role therefore cannot make), so its bulk writes pay one
-- cheap test per row. Where both fire (a subscription's first copy of a
-- table fires statement triggers too) they write the same rows once.
-- The functions run as their owner, who sees the backend type only of
-- sessions of roles it has the rights of: a session it cannot see is an
-- apply worker when pg_stat_subscription lists it, and a client otherwise
-- (another tool's worker, run by a role the owner cannot see, is taken
-- for a client: its deletes go unrecorded, as before).
--
-- A ticket's new id (UPDATE … SET id) is born in the transaction that
-- gives it (zz_ticketstream_new_id, in every session): no reader saw the
-- ticket under it in the teams it has there. The departure trigger looks
-- births up by the id the row has, and a ticket inserted into one team —
-- or moved there from another — then given a new id and moved on, left a
-- departure from that team under its new id, which named the new id to a
-- dashboard of the team that resumed. (The old id stays on dashboards
-- until they load afresh: README, Limits.)

-- Like 00011, this takes a lock that waits for open transactions on
-- tickets: after 10 s the migration gives up instead.

-- +goose Up
SET LOCAL lock_timeout = '10s';
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_applies_replication() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('ticketstream.applies_replication', true), '')
       NOT IN ('on:' || pg_backend_pid(), 'off:' || pg_backend_pid()) THEN
        PERFORM set_config('ticketstream.applies_replication',
            CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_stat_subscription WHERE pid = pg_backend_pid())
                      OR (SELECT backend_type FROM pg_catalog.pg_stat_get_activity(pg_backend_pid())) <> 'client backend'
                 THEN 'on:' ELSE 'off:' END || pg_backend_pid(),
            false);
    END IF;
    RETURN current_setting('ticketstream.applies_replication') = 'on:' || pg_backend_pid();
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_replicated_removal() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    xid bigint;
BEGIN
    IF NOT ticketstream_applies_replication() THEN
        RETURN NULL;
    END IF;
    xid := pg_current_xact_id()::text::bigint;
    INSERT INTO ticket_removals (change_pos, id) VALUES (xid, OLD.id)
    ON CONFLICT DO NOTHING;
    IF NOT EXISTS (SELECT 1 FROM ticket_departures WHERE id = OLD.id AND change_pos = xid)
       AND NOT EXISTS (SELECT 1 FROM ticket_births WHERE id = OLD.id AND change_pos = xid) THEN
        INSERT INTO ticket_departures (id, change_pos, team) VALUES (OLD.id, xid, OLD.team)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_replicated_birth() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT ticketstream_applies_replication() OR current_setting('ticketstream.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO ticket_births (id, change_pos) VALUES (NEW.id, pg_current_xact_id()::text::bigint)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_new_id() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    -- Not an id another ticket has: such an update can only fail, or be
    -- cancelled by a later BEFORE trigger, and the other ticket's moves in
    -- this transaction are departures.
    IF NOT EXISTS (SELECT 1 FROM tickets WHERE id = NEW.id) THEN
        INSERT INTO ticket_births (id, change_pos) VALUES (NEW.id, pg_current_xact_id()::text::bigint)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- After zz_ticketstream_departure, which looks births up by both ids of
-- the statement that changes the id, before zz_ticketstream_stamp.
DROP TRIGGER IF EXISTS zz_ticketstream_new_id ON tickets;
CREATE TRIGGER zz_ticketstream_new_id BEFORE UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION ticketstream_record_new_id();
ALTER TABLE tickets ENABLE ALWAYS TRIGGER zz_ticketstream_new_id;

DROP TRIGGER IF EXISTS tickets_record_replicated_removal ON tickets;
CREATE TRIGGER tickets_record_replicated_removal AFTER DELETE ON tickets
    FOR EACH ROW WHEN (current_setting('ticketstream.applies_replication', true) IS DISTINCT FROM 'off:' || pg_backend_pid())
    EXECUTE FUNCTION ticketstream_record_replicated_removal();
ALTER TABLE tickets ENABLE REPLICA TRIGGER tickets_record_replicated_removal;

DROP TRIGGER IF EXISTS tickets_record_replicated_birth ON tickets;
CREATE TRIGGER tickets_record_replicated_birth AFTER INSERT ON tickets
    FOR EACH ROW WHEN (current_setting('ticketstream.applies_replication', true) IS DISTINCT FROM 'off:' || pg_backend_pid())
    EXECUTE FUNCTION ticketstream_record_replicated_birth();
ALTER TABLE tickets ENABLE REPLICA TRIGGER tickets_record_replicated_birth;

-- +goose Down
SET LOCAL lock_timeout = '10s';
DROP TRIGGER IF EXISTS zz_ticketstream_new_id ON tickets;
DROP FUNCTION IF EXISTS ticketstream_record_new_id();
DROP TRIGGER IF EXISTS tickets_record_replicated_birth ON tickets;
DROP TRIGGER IF EXISTS tickets_record_replicated_removal ON tickets;
DROP FUNCTION IF EXISTS ticketstream_record_replicated_birth();
DROP FUNCTION IF EXISTS ticketstream_record_replicated_removal();
DROP FUNCTION IF EXISTS ticketstream_applies_replication();
