-- Arrivals: the position at which a ticket entered a team — inserted
-- into it, moved to it, or given its id there. A departure is a team some
-- reader could have seen the ticket in. SQLite's triggers cannot tell one
-- transaction from the next, so a ticket inserted into billing and moved to
-- sales by one transaction (or moved through billing) leaves a departure
-- from billing that no reader ever saw. Readers tell such departures apart
-- by position instead: a reader that stands at position P (a dashboard
-- resuming from P, a feed read after P) holds a ticket in a team only if
-- the ticket was in that team at P — snapshots hold only rows last changed
-- at or before their watermark, which is never past P, and every later
-- version arrives with the change that carries it. A departure from a team
-- the ticket entered after P names the ticket to no one (feed.go:
-- sqlArrivedSince); an earlier departure from that team, of the version
-- held at P, still names it.
--
-- ticketstream's own bulk inserts write their positions themselves and
-- record no arrival: their rows never move inside their transaction, and a
-- departure without its arrival is always reported (a removal at most to a
-- dashboard that does not hold the ticket, never a lost one). Arrivals are
-- pruned with the departures, by age; a pruned arrival only makes a later
-- departure count as one a reader saw.

-- +goose Up
CREATE TABLE IF NOT EXISTS ticket_arrivals (
    id         INTEGER NOT NULL,
    team       TEXT    NOT NULL,
    change_pos INTEGER NOT NULL,
    arrived_at INTEGER NOT NULL,
    PRIMARY KEY (id, team, change_pos)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ticket_arrivals_at ON ticket_arrivals (arrived_at);

DROP TRIGGER IF EXISTS tickets_stamp_insert;
-- +goose StatementBegin
CREATE TRIGGER tickets_stamp_insert AFTER INSERT ON tickets
WHEN NEW.change_pos = 1
BEGIN
    UPDATE change_feed_state SET last_pos = last_pos + 1 WHERE id = 1;
    UPDATE tickets SET change_pos = (SELECT last_pos FROM change_feed_state WHERE id = 1) WHERE id = NEW.id;
    INSERT OR IGNORE INTO ticket_arrivals (id, team, change_pos, arrived_at)
    SELECT NEW.id, NEW.team, last_pos, CAST(strftime('%s', 'now') AS INTEGER) * 1000000
    FROM change_feed_state WHERE id = 1;
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
    INSERT OR IGNORE INTO ticket_departures (id, change_pos, team, departed_at)
    SELECT NEW.id, last_pos, OLD.team, CAST(strftime('%s', 'now') AS INTEGER) * 1000000
    FROM change_feed_state WHERE id = 1 AND OLD.team IS NOT NEW.team;
    INSERT OR IGNORE INTO ticket_arrivals (id, team, change_pos, arrived_at)
    SELECT NEW.id, NEW.team, last_pos, CAST(strftime('%s', 'now') AS INTEGER) * 1000000
    FROM change_feed_state WHERE id = 1 AND (OLD.team IS NOT NEW.team OR OLD.id IS NOT NEW.id);
END;
-- +goose StatementEnd

-- +goose Down
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
DROP TRIGGER IF EXISTS tickets_stamp_insert;
-- +goose StatementBegin
CREATE TRIGGER tickets_stamp_insert AFTER INSERT ON tickets
WHEN NEW.change_pos = 1
BEGIN
    UPDATE change_feed_state SET last_pos = last_pos + 1 WHERE id = 1;
    UPDATE tickets SET change_pos = (SELECT last_pos FROM change_feed_state WHERE id = 1) WHERE id = NEW.id;
END;
-- +goose StatementEnd
DROP TABLE IF EXISTS ticket_arrivals;
