-- INSERT OR REPLACE — how many sync tools write "the row as it is now" —
-- deletes the row it replaces without firing its delete triggers (unless
-- the connection turned recursive_triggers on) and inserts the new one.
-- When the new row is in another team, the ticket left a team and no
-- trigger said so: a dashboard of the old team that resumed kept it.
--
-- This trigger records that departure before the insert, at the position
-- the insert will take: the next counter value when the row takes its
-- position from the stamp trigger, else the one it carries (ticketstream's
-- own bulk inserts). A plain INSERT that collides fails, and takes the
-- departure with it; an upsert (ON CONFLICT … DO UPDATE) that leaves the
-- team as it was records a departure from the team the ticket still has,
-- which names it only to dashboards that may hold it anyway.

-- +goose Up
-- +goose StatementBegin
CREATE TRIGGER IF NOT EXISTS tickets_record_replaced_departure BEFORE INSERT ON tickets
WHEN EXISTS (SELECT 1 FROM tickets WHERE id = NEW.id AND team IS NOT NEW.team)
BEGIN
    INSERT OR IGNORE INTO ticket_departures (id, change_pos, team, departed_at)
    SELECT NEW.id, CASE WHEN NEW.change_pos = 1 THEN s.last_pos + 1 ELSE NEW.change_pos END, t.team,
           CAST(strftime('%s', 'now') AS INTEGER) * 1000000
    FROM change_feed_state s, tickets t WHERE s.id = 1 AND t.id = NEW.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER IF EXISTS tickets_record_replaced_departure;
