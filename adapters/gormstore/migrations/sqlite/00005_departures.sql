-- Departures: whenever a ticket leaves a team — its team changes, or it is
-- deleted — ticket_departures records the position of that change, the
-- ticket and the team it left. A dashboard that resumes is told of a ticket
-- it may hold that has since left its teams, and only such a dashboard:
-- the ticket's current team alone cannot say it was ever in them.
--
-- The primary key leads with the ticket: the feed asks, for each change it
-- reads, which teams that ticket left since the reader's position, one
-- index probe per change, and none when no ticket left a team in the range
-- read. They are pruned by the same rule as removals, and
-- move removals_pruned_before too.
--
-- A departure takes the position of the change that made it, so it is
-- recorded by the triggers that stamp positions, right after the counter
-- moves: SQLite does not promise an order between triggers of one event.

-- +goose Up
CREATE TABLE IF NOT EXISTS ticket_departures (
    id          INTEGER NOT NULL,
    change_pos  INTEGER NOT NULL,
    team        TEXT    NOT NULL,
    departed_at INTEGER NOT NULL,
    PRIMARY KEY (id, change_pos, team)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ticket_departures_at ON ticket_departures (departed_at);
-- Whether any ticket left a team in a range of positions: one probe per
-- page of the feed, which spares every change of the page its own probe in
-- the common case, when none did.
CREATE INDEX IF NOT EXISTS ticket_departures_change ON ticket_departures (change_pos);

DROP TRIGGER IF EXISTS tickets_stamp_update;
-- +goose StatementBegin
CREATE TRIGGER tickets_stamp_update
AFTER UPDATE OF id, team, subject, status, priority, requester, assignee, tags, created_at, updated_at ON tickets
WHEN OLD.id IS NOT NEW.id OR OLD.team IS NOT NEW.team OR OLD.subject IS NOT NEW.subject
  OR OLD.status IS NOT NEW.status OR OLD.priority IS NOT NEW.priority OR OLD.requester IS NOT NEW.requester
  OR OLD.assignee IS NOT NEW.assignee OR OLD.tags IS NOT NEW.tags OR OLD.created_at IS NOT NEW.created_at
  OR OLD.updated_at IS NOT NEW.updated_at
BEGIN
    UPDATE change_feed_state SET last_pos = last_pos + 1 WHERE id = 1;
    UPDATE tickets SET change_pos = (SELECT last_pos FROM change_feed_state WHERE id = 1) WHERE id = NEW.id;
    INSERT OR IGNORE INTO ticket_departures (id, change_pos, team, departed_at)
    SELECT NEW.id, last_pos, OLD.team, CAST(strftime('%s', 'now') AS INTEGER) * 1000000
    FROM change_feed_state WHERE id = 1 AND OLD.team IS NOT NEW.team;
END;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS tickets_record_removal;
-- +goose StatementBegin
CREATE TRIGGER tickets_record_removal AFTER DELETE ON tickets
BEGIN
    UPDATE change_feed_state SET last_pos = last_pos + 1 WHERE id = 1;
    INSERT OR IGNORE INTO ticket_removals (change_pos, id, removed_at)
    VALUES ((SELECT last_pos FROM change_feed_state WHERE id = 1), OLD.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
    INSERT OR IGNORE INTO ticket_departures (id, change_pos, team, departed_at)
    SELECT OLD.id, last_pos, OLD.team, CAST(strftime('%s', 'now') AS INTEGER) * 1000000
    FROM change_feed_state WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER IF EXISTS tickets_record_removal;
-- +goose StatementBegin
CREATE TRIGGER tickets_record_removal AFTER DELETE ON tickets
BEGIN
    UPDATE change_feed_state SET last_pos = last_pos + 1 WHERE id = 1;
    INSERT OR IGNORE INTO ticket_removals (change_pos, id, removed_at)
    VALUES ((SELECT last_pos FROM change_feed_state WHERE id = 1), OLD.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
END;
-- +goose StatementEnd
DROP TRIGGER IF EXISTS tickets_stamp_update;
-- +goose StatementBegin
CREATE TRIGGER tickets_stamp_update
AFTER UPDATE OF id, team, subject, status, priority, requester, assignee, tags, created_at, updated_at ON tickets
WHEN OLD.id IS NOT NEW.id OR OLD.team IS NOT NEW.team OR OLD.subject IS NOT NEW.subject
  OR OLD.status IS NOT NEW.status OR OLD.priority IS NOT NEW.priority OR OLD.requester IS NOT NEW.requester
  OR OLD.assignee IS NOT NEW.assignee OR OLD.tags IS NOT NEW.tags OR OLD.created_at IS NOT NEW.created_at
  OR OLD.updated_at IS NOT NEW.updated_at
BEGIN
    UPDATE change_feed_state SET last_pos = last_pos + 1 WHERE id = 1;
    UPDATE tickets SET change_pos = (SELECT last_pos FROM change_feed_state WHERE id = 1) WHERE id = NEW.id;
END;
-- +goose StatementEnd
DROP TABLE IF EXISTS ticket_departures;
