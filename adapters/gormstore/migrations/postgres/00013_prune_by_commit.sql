-- Retention counts from a transaction's commit, and the feed knows exactly
-- which transactions pruning may have taken.
--
-- Until now a prune took the removals and departures recorded before its
-- cutoff, and change_feed_state.removals_pruned_before recorded the
-- transaction below which none might be left. A reader lacking any
-- committed transaction below it had to start over. So a writing
-- transaction that stayed open longer than the retention, in any database
-- of the server, made every replica's dashboards resync once it ended,
-- when a newer removal had been pruned meanwhile: nothing of it had been
-- pruned, but the number could not say so.
--
-- Now each prune leaves a mark: the time and the server's snapshot
-- (xmax and the transactions then in progress). A prune takes only what
-- the newest mark older than its cutoff shows committed, so a transaction
-- open for days keeps its removals for the retention after it commits.
-- change_feed_state.pruned_xmax, pruned_pending, pruned_seq and pruned_id
-- hold a position that covers every change whose removal or departure was
-- pruned; a reader must have had all it covers, and a transaction pending
-- in it was not touched.
--
-- During a rolling deploy replicas of the previous release keep serving:
-- they prune by the old rule and check only removals_pruned_before. So a
-- new prune still raises removals_pruned_before, for them to see what it
-- took; and legacy_pruned_before, which new readers check besides the
-- position, follows removals_pruned_before only when an old replica's
-- prune raised it (a trigger tells the two apart: a new prune says so in
-- the setting ticketstream.prune_by_marks). Once every replica runs this
-- release, legacy_pruned_before no longer moves.

-- +goose Up
SET LOCAL lock_timeout = '10s';
CREATE TABLE IF NOT EXISTS change_feed_marks (
    taken_at     timestamptz NOT NULL,
    snap_xmax    bigint   NOT NULL,
    snap_pending bigint[] NOT NULL
);
CREATE INDEX IF NOT EXISTS change_feed_marks_taken_at ON change_feed_marks (taken_at);
ALTER TABLE change_feed_state
    ADD COLUMN IF NOT EXISTS pruned_xmax    bigint   NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS pruned_pending bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS pruned_seq     bigint   NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS pruned_id      bigint   NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS legacy_pruned_before bigint NOT NULL DEFAULT 0;
UPDATE change_feed_state SET legacy_pruned_before = removals_pruned_before;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_note_legacy_prune() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ticketstream.prune_by_marks', true) IS DISTINCT FROM 'on' THEN
        NEW.legacy_pruned_before := GREATEST(OLD.legacy_pruned_before, NEW.removals_pruned_before);
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS change_feed_state_legacy_prune ON change_feed_state;
CREATE TRIGGER change_feed_state_legacy_prune BEFORE UPDATE OF removals_pruned_before ON change_feed_state
    FOR EACH ROW EXECUTE FUNCTION ticketstream_note_legacy_prune();
-- Like the feed's own (00011): an old replica's prune in a session with
-- session_replication_role = replica must be noted too.
ALTER TABLE change_feed_state ENABLE ALWAYS TRIGGER change_feed_state_legacy_prune;

-- +goose Down
SET LOCAL lock_timeout = '10s';
DROP TRIGGER IF EXISTS change_feed_state_legacy_prune ON change_feed_state;
DROP FUNCTION IF EXISTS ticketstream_note_legacy_prune();
ALTER TABLE change_feed_state DROP COLUMN IF EXISTS legacy_pruned_before,
    DROP COLUMN IF EXISTS pruned_id, DROP COLUMN IF EXISTS pruned_seq,
    DROP COLUMN IF EXISTS pruned_pending, DROP COLUMN IF EXISTS pruned_xmax;
DROP TABLE IF EXISTS change_feed_marks;
