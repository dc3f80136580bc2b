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
-- change_feed_state.pruned_xmax and pruned_pending hold a position that
-- covers every change whose removal or departure was pruned; a reader must
-- have had all it covers, and a transaction pending in it was not touched.
-- removals_pruned_before stays, and is still checked: replicas of the
-- previous version, during a rolling deploy, still prune by it.

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
    ADD COLUMN IF NOT EXISTS pruned_pending bigint[] NOT NULL DEFAULT '{}';

-- +goose Down
SET LOCAL lock_timeout = '10s';
ALTER TABLE change_feed_state DROP COLUMN IF EXISTS pruned_pending, DROP COLUMN IF EXISTS pruned_xmax;
DROP TABLE IF EXISTS change_feed_marks;
