-- Statistics for searches (a query's q). A search compares
--   lower(subject || chr(31) || requester COLLATE "C") LIKE '%text%'
-- (see adapters/gormstore/searchindex.go) and each search query is planned
-- for its own text. Without statistics on that expression the planner
-- takes any word for a rare one and reads and sorts the whole table for
-- every page of a common word's matches (9 s for the first 100 of 71,273
-- on a million tickets, here); with them it walks the (updated_at, id)
-- order for a common word and stops at a page's worth. Extended
-- statistics cost writers nothing: ANALYZE (autovacuum's, or the one here)
-- computes them from a sample.

-- +goose Up
CREATE STATISTICS IF NOT EXISTS tickets_search_text
    ON (lower(subject || chr(31) || requester COLLATE "C"))
    FROM tickets;
ANALYZE tickets;

-- +goose Down
DROP STATISTICS IF EXISTS tickets_search_text;
