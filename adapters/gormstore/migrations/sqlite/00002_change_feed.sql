-- The change feed. SQLite has one writer at a time, so a counter bumped by
-- triggers orders changes exactly as they commit: every ticket row carries
-- the counter value of its last change (change_pos), and a reader that has
-- seen position N has seen every change up to N. Deletions leave a row in
-- ticket_removals, kept for a bounded time; change_feed_state holds the
-- counter and up to where removals were pruned.

-- +goose Up
CREATE TABLE IF NOT EXISTS change_feed_state (
    id                     INTEGER PRIMARY KEY CHECK (id = 1),
    last_pos               INTEGER NOT NULL DEFAULT 0,
    removals_pruned_before INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO change_feed_state (id, last_pos) VALUES (1, 1);

ALTER TABLE tickets ADD COLUMN change_pos INTEGER NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS tickets_change ON tickets (change_pos, id);

CREATE TABLE IF NOT EXISTS ticket_removals (
    change_pos INTEGER NOT NULL,
    id         INTEGER NOT NULL,
    removed_at INTEGER NOT NULL,
    PRIMARY KEY (change_pos, id)
);
CREATE INDEX IF NOT EXISTS ticket_removals_at ON ticket_removals (removed_at);

-- +goose StatementBegin
-- A row inserted without a position (change_pos left at its default, 1)
-- gets the next one. ticketstream's own bulk inserts reserve a range of
-- positions from the counter in their transaction and write them directly:
-- other writers must leave change_pos alone.
CREATE TRIGGER IF NOT EXISTS tickets_stamp_insert AFTER INSERT ON tickets
WHEN NEW.change_pos = 1
BEGIN
    UPDATE change_feed_state SET last_pos = last_pos + 1 WHERE id = 1;
    UPDATE tickets SET change_pos = (SELECT last_pos FROM change_feed_state WHERE id = 1) WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- Fires only for the ticket's own columns, so its own update of change_pos
-- does not fire it again; an update that changes nothing keeps its position.
-- +goose StatementBegin
CREATE TRIGGER IF NOT EXISTS tickets_stamp_update
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

-- +goose StatementBegin
CREATE TRIGGER IF NOT EXISTS tickets_record_removal AFTER DELETE ON tickets
BEGIN
    UPDATE change_feed_state SET last_pos = last_pos + 1 WHERE id = 1;
    INSERT OR IGNORE INTO ticket_removals (change_pos, id, removed_at)
    VALUES ((SELECT last_pos FROM change_feed_state WHERE id = 1), OLD.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER IF EXISTS tickets_record_removal;
DROP TRIGGER IF EXISTS tickets_stamp_update;
DROP TRIGGER IF EXISTS tickets_stamp_insert;
DROP TABLE IF EXISTS ticket_removals;
DROP INDEX IF EXISTS tickets_change;
ALTER TABLE tickets DROP COLUMN change_pos;
DROP TABLE IF EXISTS change_feed_state;
