-- What the cursors handed to clients need from the database: the key that
-- seals them (so that every server on this file, and every restart, accepts
-- the cursors of the others, with no setup), and the identity of the
-- database, so that a cursor of another database file is never resumed
-- here. Both are written once, by the first server that opens the
-- database, and never changed.

-- +goose Up
ALTER TABLE change_feed_state ADD COLUMN cursor_key BLOB;
ALTER TABLE change_feed_state ADD COLUMN database_id INTEGER;

-- +goose Down
ALTER TABLE change_feed_state DROP COLUMN database_id;
ALTER TABLE change_feed_state DROP COLUMN cursor_key;
