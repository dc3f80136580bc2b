-- The change feed's triggers fire in every session, whatever its
-- session_replication_role.
--
-- PostgreSQL skips a table's ordinarily enabled triggers in a session with
-- session_replication_role = replica — what data loaders and sync tools
-- set to skip foreign keys and their own triggers. The feed's triggers
-- skipped there left such a session's updates unstamped and its deletes
-- unrecorded: they never reached a live dashboard, and a resumed one kept
-- the deleted tickets. ENABLE ALWAYS makes them fire there too. (A logical
-- replication subscription's apply worker runs as replica and fires only
-- row triggers: docs/operations.md says what that leaves.)
--
-- Like 00010, this takes a lock that waits for open transactions on
-- tickets: after 10 s the migration gives up instead.

-- +goose Up
SET LOCAL lock_timeout = '10s';
ALTER TABLE tickets ENABLE ALWAYS TRIGGER tickets_stamp_insert;
ALTER TABLE tickets ENABLE ALWAYS TRIGGER zz_ticketstream_stamp;
ALTER TABLE tickets ENABLE ALWAYS TRIGGER zz_ticketstream_departure;
ALTER TABLE tickets ENABLE ALWAYS TRIGGER tickets_record_births;
ALTER TABLE tickets ENABLE ALWAYS TRIGGER tickets_record_removals;

-- +goose Down
SET LOCAL lock_timeout = '10s';
ALTER TABLE tickets ENABLE TRIGGER tickets_stamp_insert;
ALTER TABLE tickets ENABLE TRIGGER zz_ticketstream_stamp;
ALTER TABLE tickets ENABLE TRIGGER zz_ticketstream_departure;
ALTER TABLE tickets ENABLE TRIGGER tickets_record_births;
ALTER TABLE tickets ENABLE TRIGGER tickets_record_removals;
