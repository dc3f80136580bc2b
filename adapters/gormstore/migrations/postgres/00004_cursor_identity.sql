-- What the cursors handed to clients need from the database: the key that
-- seals them (so that every replica, and every restart, accepts the cursors
-- of the others, with no setup), and an identity of the database for
-- servers whose role may not call pg_control_system(). Both are written
-- once, by the first server that opens the database, and never changed.

-- +goose Up
ALTER TABLE change_feed_state ADD COLUMN IF NOT EXISTS cursor_key bytea;
ALTER TABLE change_feed_state ADD COLUMN IF NOT EXISTS database_id bigint;

-- +goose Down
ALTER TABLE change_feed_state DROP COLUMN IF EXISTS database_id;
ALTER TABLE change_feed_state DROP COLUMN IF EXISTS cursor_key;
