-- Tickets, in the stable order (updated_at, id) that every stream reads.
-- Timestamps are Unix microseconds (UTC), the precision PostgreSQL keeps;
-- tags are a JSON array of strings.

-- +goose Up
CREATE TABLE IF NOT EXISTS tickets (
    id         INTEGER PRIMARY KEY,
    team       TEXT    NOT NULL CHECK (team <> ''),
    subject    TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('new', 'open', 'pending', 'on_hold', 'solved', 'closed')),
    priority   TEXT    NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    requester  TEXT    NOT NULL,
    assignee   TEXT    NOT NULL DEFAULT '',
    tags       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_order          ON tickets (updated_at, id);
CREATE INDEX IF NOT EXISTS tickets_team_order     ON tickets (team, updated_at, id);
CREATE INDEX IF NOT EXISTS tickets_status_order   ON tickets (status, updated_at, id);
CREATE INDEX IF NOT EXISTS tickets_priority_order ON tickets (priority, updated_at, id);
CREATE INDEX IF NOT EXISTS tickets_assignee_order ON tickets (assignee, updated_at, id);

-- +goose Down
DROP TABLE IF EXISTS tickets;
