-- Departures: whenever a ticket leaves a team — its team changes, or it is
-- deleted — ticket_departures records the position of that change, the
-- ticket and the team it left. A dashboard that resumes is told of a ticket
-- it may hold that has since left its teams, and only such a dashboard:
-- the ticket's current team alone cannot say it was ever in them.
--
-- The primary key leads with the ticket: the feed asks, for each change it
-- reads, which teams that ticket left since the reader's position, one
-- index probe per change, and none when no ticket left a team in the range
-- read. Several departures of one ticket in one
-- transaction (A to B to C) share a position and differ by team. They are
-- pruned by the same rule as removals, and move removals_pruned_before too.

-- +goose Up
CREATE TABLE IF NOT EXISTS ticket_departures (
    id          bigint      NOT NULL,
    change_pos  bigint      NOT NULL,
    team        text        NOT NULL,
    departed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, change_pos, team)
);
CREATE INDEX IF NOT EXISTS ticket_departures_at ON ticket_departures (departed_at);
-- Whether any ticket left a team in a range of positions: one probe per
-- page of the feed, which spares every change of the page its own probe in
-- the common case, when none did.
CREATE INDEX IF NOT EXISTS ticket_departures_change ON ticket_departures (change_pos);

-- A team the ticket had only inside this transaction (it was inserted, or
-- moved there, by the same transaction) was never seen by any reader: it is
-- not a departure, and a dashboard of that team must hear nothing of it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_departure() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.change_pos IS DISTINCT FROM pg_current_xact_id()::text::bigint THEN
        INSERT INTO ticket_departures (id, change_pos, team)
        VALUES (NEW.id, pg_current_xact_id()::text::bigint, OLD.team)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Fires only for updates that move a ticket to another team: any other
-- update queues nothing.
DROP TRIGGER IF EXISTS tickets_record_departure ON tickets;
CREATE TRIGGER tickets_record_departure AFTER UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.team IS DISTINCT FROM NEW.team)
    EXECUTE FUNCTION ticketstream_record_departure();

-- A deletion leaves its removal and its departure from the team it had.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_removals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticket_removals (change_pos, id)
    SELECT pg_current_xact_id()::text::bigint, id FROM removed
    ON CONFLICT DO NOTHING;
    -- The team a deleted ticket leaves is the one it had before this
    -- transaction: if the transaction moved it, that departure is recorded
    -- already, and the team it was moved to was never seen.
    INSERT INTO ticket_departures (id, change_pos, team)
    SELECT r.id, pg_current_xact_id()::text::bigint, r.team FROM removed r
    WHERE NOT EXISTS (SELECT 1 FROM ticket_departures d
                      WHERE d.id = r.id AND d.change_pos = pg_current_xact_id()::text::bigint)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
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
DROP TRIGGER IF EXISTS tickets_record_departure ON tickets;
DROP FUNCTION IF EXISTS ticketstream_record_departure();
DROP TABLE IF EXISTS ticket_departures;
