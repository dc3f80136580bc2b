-- The change feed. Every ticket row carries change_pos: the 64-bit id of the
-- transaction that last wrote it, stamped by a trigger whatever program wrote
-- it. A reader takes the rows with change_pos below pg_snapshot_xmin of its
-- snapshot (every transaction below it has finished), so a transaction that
-- commits late can never be skipped. Deletions leave a row in
-- ticket_removals, kept for a bounded time; change_feed_state records up to
-- where they were pruned.

-- +goose Up
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS change_pos bigint NOT NULL DEFAULT 0;
UPDATE tickets SET change_pos = pg_current_xact_id()::text::bigint;
CREATE INDEX IF NOT EXISTS tickets_change ON tickets (change_pos, id);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_stamp_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_pos := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- A bulk load (ticketstream seed's COPY) that stamps its rows with its own
-- transaction id skips the function call; any other value is overwritten.
DROP TRIGGER IF EXISTS tickets_stamp_insert ON tickets;
CREATE TRIGGER tickets_stamp_insert BEFORE INSERT ON tickets
    FOR EACH ROW WHEN (NEW.change_pos IS DISTINCT FROM pg_current_xact_id()::text::bigint)
    EXECUTE FUNCTION ticketstream_stamp_change();
-- An update that changes nothing keeps its position: nothing to deliver.
DROP TRIGGER IF EXISTS tickets_stamp_update ON tickets;
CREATE TRIGGER tickets_stamp_update BEFORE UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION ticketstream_stamp_change();

CREATE TABLE IF NOT EXISTS ticket_removals (
    change_pos bigint      NOT NULL,
    id         bigint      NOT NULL,
    removed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (change_pos, id)
);
CREATE INDEX IF NOT EXISTS ticket_removals_at ON ticket_removals (removed_at);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_removals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticket_removals (change_pos, id)
    SELECT pg_current_xact_id()::text::bigint, id FROM removed
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS tickets_record_removals ON tickets;
CREATE TRIGGER tickets_record_removals AFTER DELETE ON tickets
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION ticketstream_record_removals();

CREATE TABLE IF NOT EXISTS change_feed_state (
    id                     int    PRIMARY KEY CHECK (id = 1),
    removals_pruned_before bigint NOT NULL DEFAULT 0
);
INSERT INTO change_feed_state (id) VALUES (1) ON CONFLICT DO NOTHING;

-- +goose Down
DROP TRIGGER IF EXISTS tickets_record_removals ON tickets;
DROP TRIGGER IF EXISTS tickets_stamp_update ON tickets;
DROP TRIGGER IF EXISTS tickets_stamp_insert ON tickets;
DROP FUNCTION IF EXISTS ticketstream_record_removals();
DROP FUNCTION IF EXISTS ticketstream_stamp_change();
DROP TABLE IF EXISTS change_feed_state;
DROP TABLE IF EXISTS ticket_removals;
DROP INDEX IF EXISTS tickets_change;
ALTER TABLE tickets DROP COLUMN IF EXISTS change_pos;
