package gormstore

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/ticketstream/ticketstream/domain"
)

// The search index. A search (domain.Query.Search) compares
//
//	lower(subject || chr(31) || requester COLLATE "C") LIKE '%text%'
//
// on PostgreSQL (postgresStyle.search): under the C collation lower() folds
// exactly A to Z whatever the database's locale, as Go and SQLite do, where
// the database's collation or ILIKE would follow its locale (translate(),
// which folds the same, costs 14× more); a search never holds the separator
// chr(31) (control characters are refused), so it matches within the
// subject or within the requester, never across. A trigram index (pg_trgm)
// on that expression lets a rare word skip the tickets that cannot match —
// and costs every write: measured here, writers commit at about 0.7× the
// rate and a bulk load runs 2.3× slower with it (docs/performance.md). So it
// is the operator's choice, made with `ticketstream migrate --search-index`,
// not a migration: without it a search reads the tickets of the rest of its
// filter. Each search query is planned for its own text, with statistics
// on the expression (migration 00008), so that a common word walks the
// (updated_at, id) order and a rare one uses the index when there is one.

// searchIndexName is the index SetSearchIndex creates.
const searchIndexName = "tickets_search"

// searchIndexSQL creates the index, built without blocking writers, with
// the operator class from pg_trgm's schema (%s).
const searchIndexSQL = `CREATE INDEX CONCURRENTLY IF NOT EXISTS ` + searchIndexName + ` ON tickets USING gin
	(lower(subject || chr(31) || requester COLLATE "C") %s.gin_trgm_ops)`

// SetSearchIndex creates (on) or drops the trigram index that serves
// searches on PostgreSQL, creating the pg_trgm extension first if need be
// (it ships with PostgreSQL and is trusted: the database's owner may
// create it). Building it does not block writers; it takes about a minute
// per million tickets. SQLite has none: its searches scan, and asking for
// one is an EInvalid error.
func (s *Store) SetSearchIndex(ctx context.Context, on bool) error {
	if s.Dialect() != Postgres {
		return domain.Invalidf("search-index", "SQLite has no search index: its searches read the tickets of their filter")
	}
	stmts := []string{`DROP INDEX CONCURRENTLY IF EXISTS ` + searchIndexName}
	if on {
		// A build that failed half-way leaves an invalid index that IF NOT
		// EXISTS would keep: drop one first.
		if valid, exists, err := s.searchIndexState(ctx); err != nil {
			return err
		} else if exists && valid {
			return nil
		}
		stmts = append(stmts, `CREATE EXTENSION IF NOT EXISTS pg_trgm`, "")
	}
	return s.withoutStatementTimeout(ctx, func(conn *gorm.DB) error {
		for _, stmt := range stmts {
			if stmt == "" { // the index, with the operator class wherever pg_trgm is
				var schema string
				if err := conn.Raw(`SELECT quote_ident(n.nspname) FROM pg_extension e
					JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`).Scan(&schema).Error; err != nil {
					return fmt.Errorf("search index: %w", err)
				}
				stmt = fmt.Sprintf(searchIndexSQL, schema)
			}
			if err := conn.Exec(stmt).Error; err != nil {
				return fmt.Errorf("search index: %w", err)
			}
		}
		return nil
	})
}

// SearchIndex reports whether the search index exists and is ready.
func (s *Store) SearchIndex(ctx context.Context) (bool, error) {
	if s.Dialect() != Postgres {
		return false, nil
	}
	valid, exists, err := s.searchIndexState(ctx)
	return exists && valid, err
}

func (s *Store) searchIndexState(ctx context.Context) (valid, exists bool, err error) {
	var rows []bool
	err = s.gorm.WithContext(ctx).Raw(`SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'tickets'::regclass AND c.relname = ?`, searchIndexName).Scan(&rows).Error
	if err != nil {
		return false, false, fmt.Errorf("search index: %w", err)
	}
	if len(rows) == 0 {
		return false, false, nil
	}
	return rows[0], true, nil
}
