-- Deletes applied by a logical replication subscription are recorded.
--
-- A tickets table filled by a subscription (CREATE SUBSCRIPTION … on this
-- database, the help desk's own database publishing its tickets) is
-- written by the subscription's apply worker. That worker runs with
-- session_replication_role = replica and fires row triggers only: the
-- stamps (row triggers, ENABLE ALWAYS since 00011) made its inserts and
-- updates reach dashboards, but a delete is recorded by a statement
-- trigger (tickets_record_removals), so a ticket deleted on the publisher
-- stayed on every dashboard, silently, until it loaded afresh.
--
-- This row trigger records the removal, and the departure from the
-- ticket's team, as the statement trigger does. It is enabled for replica
-- sessions only (ENABLE REPLICA), and does its work only in the apply
-- worker: a data loader's session in replica role fires the statement
-- trigger already (ENABLE ALWAYS), and asks once per session which it is
-- (the ticketstream.applies_replication setting keeps the answer), so its
-- bulk deletes pay one cheap test per row. Births are not recorded for a
-- replicated transaction (that trigger is a statement trigger too): a
-- ticket it inserts and then deletes or moves leaves a departure from a
-- team no reader saw it in, which tells a dashboard of that team to drop a
-- ticket it never had — nothing.
--
-- Like 00011, this takes a lock that waits for open transactions on
-- tickets: after 10 s the migration gives up instead.

-- +goose Up
SET LOCAL lock_timeout = '10s';
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_replicated_removal() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    xid bigint;
BEGIN
    IF coalesce(current_setting('ticketstream.applies_replication', true), '') = '' THEN
        PERFORM set_config('ticketstream.applies_replication',
            CASE WHEN (SELECT backend_type FROM pg_stat_get_activity(pg_backend_pid()))
                      LIKE 'logical replication%worker'
                 THEN 'on' ELSE 'off' END,
            false);
    END IF;
    IF current_setting('ticketstream.applies_replication') <> 'on' THEN
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
DROP TRIGGER IF EXISTS tickets_record_replicated_removal ON tickets;
CREATE TRIGGER tickets_record_replicated_removal AFTER DELETE ON tickets
    FOR EACH ROW WHEN (current_setting('ticketstream.applies_replication', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION ticketstream_record_replicated_removal();
ALTER TABLE tickets ENABLE REPLICA TRIGGER tickets_record_replicated_removal;

-- +goose Down
SET LOCAL lock_timeout = '10s';
DROP TRIGGER IF EXISTS tickets_record_replicated_removal ON tickets;
DROP FUNCTION IF EXISTS ticketstream_record_replicated_removal();
