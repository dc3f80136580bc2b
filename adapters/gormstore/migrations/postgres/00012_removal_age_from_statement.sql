-- A removal's or departure's age counts from its statement, not from the
-- start of its transaction.
--
-- now() is the time the transaction began: a delete made in a transaction
-- that had been open longer than --change-retention was pruned at the first
-- prune after it committed, and a dashboard that had been away only for
-- minutes across it had to resync. clock_timestamp(), evaluated as the
-- trigger records the row, is the time of the statement. A transaction
-- that commits more than the retention after its delete still has it
-- pruned at once; a replica that had not read it then starts its
-- dashboards afresh (ports.ErrHistoryPruned), and no cursor before it
-- resumes.

-- +goose Up
SET LOCAL lock_timeout = '10s';
ALTER TABLE ticket_removals ALTER COLUMN removed_at SET DEFAULT clock_timestamp();
ALTER TABLE ticket_departures ALTER COLUMN departed_at SET DEFAULT clock_timestamp();

-- +goose Down
SET LOCAL lock_timeout = '10s';
ALTER TABLE ticket_removals ALTER COLUMN removed_at SET DEFAULT now();
ALTER TABLE ticket_departures ALTER COLUMN departed_at SET DEFAULT now();
