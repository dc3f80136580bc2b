package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// foldingTeamCollationSQL names what makes tickets.team take teams that
// differ in bytes for equal: its collation, when nondeterministic (case- or
// accent-insensitive: PostgreSQL 12 and later), or its type, citext.
const foldingTeamCollationSQL = `SELECT CASE WHEN t.typname = 'citext' THEN 'citext' ELSE c.collname::text END
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_collation c ON c.oid = a.attcollation
WHERE a.attrelid = 'tickets'::regclass AND a.attname = 'team' AND NOT a.attisdropped
  AND (t.typname = 'citext' OR NOT coalesce(c.collisdeterministic, true))`

// FoldingTeamCollation returns the name of tickets.team's collation when
// it takes teams that differ in bytes for equal (a case-insensitive one),
// "citext" when the column is of that type, and "" otherwise, on
// PostgreSQL ("" on SQLite). The server matches teams byte for byte in
// live changes and departures, but the database matches them by the
// column's comparison in the queries of snapshots and pages (a token's
// teams among them): under such a column, a dashboard of "billing" that
// loads afresh is sent the tickets of "Billing" too, and live changes then
// take them off again.
func (s *Store) FoldingTeamCollation(ctx context.Context) (string, error) {
	if s.Dialect() != Postgres {
		return "", nil
	}
	var name string
	err := s.sql.QueryRowContext(ctx, foldingTeamCollationSQL).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the collation of tickets.team: %w", err)
	}
	return name, nil
}

// warnFoldingTeamCollation logs, at start, the collation
// FoldingTeamCollation finds.
func (s *Store) warnFoldingTeamCollation(ctx context.Context) {
	name, err := s.FoldingTeamCollation(ctx)
	if err != nil {
		s.log.Warn("could not check the collation of tickets.team", "err", err)
		return
	}
	if name != "" {
		s.log.Warn("tickets.team takes teams differing in case or accents for equal: ticketstream matches teams byte for byte, so a dashboard that loads afresh is sent the tickets of such other teams too, and live changes take them off again (a token's teams match by the column in those queries too). Make team text with a deterministic collation",
			"collation", name)
	}
}
