-- Search (a query's q): tickets whose subject or requester contains a text,
-- the letters A to Z in either case (see domain.FoldSearch). The queries
-- compare translate(column, 'A…Z', 'a…z') LIKE '%text%': translate folds
-- exactly A to Z whatever the database's locale, as Go and SQLite do, where
-- lower() and ILIKE would follow the locale. A trigram index (pg_trgm) on
-- each folded column lets such a LIKE skip the tickets that cannot match.
--
-- pg_trgm ships with PostgreSQL and is a trusted extension: the owner of
-- the database may create it. Where it cannot be had, the migration goes on
-- without the indexes and searches read the tickets they filter (a notice
-- says so). Building the indexes locks writes to tickets while they build:
-- about a minute per million tickets here.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): searches read every ticket of their filter', SQLERRM;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
DECLARE
    ops text;
BEGIN
    SELECT quote_ident(n.nspname) || '.gin_trgm_ops' INTO ops
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF ops IS NOT NULL THEN
        EXECUTE format('CREATE INDEX IF NOT EXISTS tickets_subject_search ON tickets USING gin '
            '(translate(subject, %L, %L) %s)', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz', ops);
        EXECUTE format('CREATE INDEX IF NOT EXISTS tickets_requester_search ON tickets USING gin '
            '(translate(requester, %L, %L) %s)', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz', ops);
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS tickets_requester_search;
DROP INDEX IF EXISTS tickets_subject_search;
