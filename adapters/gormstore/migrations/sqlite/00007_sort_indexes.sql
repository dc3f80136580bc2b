-- Indexes for the sorted pages and windows (a query's sort). A sort orders
-- by its keys and then the id ascending; the rank expressions are those of
-- adapters/gormstore/sortsql.go, to the letter, so that the planner
-- matches them (a descending priority is the urgency, its rank reversed,
-- ascending: every column of tickets_sort_urgent is ascending, and a
-- page's keyset is one range of it). Each index costs every writer, so
-- only the orders a queue asks for most have one:
--
--   -priority,created_at   tickets_sort_urgent, read in order: the most
--                          urgent, oldest first
--   created_at             tickets_sort_created, read in order
--   -created_at            tickets_sort_created backwards, the id sorted
--                          within each timestamp (a partial sort)
--   updated_at             the default order: tickets_order
--   -updated_at            tickets_order backwards, the id sorted within
--                          each timestamp (a partial sort)
--   status                 tickets_sort_status, read in order
--   team                   tickets_sort_team (bytewise: SQLite's BINARY
--                          collation), read in order
--
-- Every other order (-priority alone, -status, -team, assignee, and any
-- order whose leading keys are not above) is a sort: a page of it reads
-- and sorts the filter's rows after the cursor, or the rows of the first
-- key's value it starts in when that key leads one of these indexes.

-- +goose Up
CREATE INDEX IF NOT EXISTS tickets_sort_urgent ON tickets
    ((CASE priority WHEN 'low' THEN 3 WHEN 'normal' THEN 2 WHEN 'high' THEN 1 WHEN 'urgent' THEN 0 END), created_at, id);
CREATE INDEX IF NOT EXISTS tickets_sort_created ON tickets (created_at, id);
CREATE INDEX IF NOT EXISTS tickets_sort_status ON tickets
    ((CASE status WHEN 'new' THEN 0 WHEN 'open' THEN 1 WHEN 'pending' THEN 2 WHEN 'on_hold' THEN 3 WHEN 'solved' THEN 4 WHEN 'closed' THEN 5 END), id);
CREATE INDEX IF NOT EXISTS tickets_sort_team ON tickets (team, id);


-- +goose Down
DROP INDEX IF EXISTS tickets_sort_team;
DROP INDEX IF EXISTS tickets_sort_status;
DROP INDEX IF EXISTS tickets_sort_created;
DROP INDEX IF EXISTS tickets_sort_urgent;
