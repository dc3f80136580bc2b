package gormstore

import (
	"context"
	"strings"

	"github.com/ticketstream/ticketstream/domain"
)

// PgEpochMicros exposes pgEpochMicros to the package's external benchmarks.
var PgEpochMicros = pgEpochMicros

// MigrateUpTo applies the migrations up to version only: a database as an
// older ticketstream left it.
func (s *Store) MigrateUpTo(ctx context.Context, version int64) error {
	p, err := s.provider(true)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// ExplainSorted returns PostgreSQL's plan of the first batch of n rows of
// the sorted query q and, with after set, of the batch after that key.
func (s *Store) ExplainSorted(ctx context.Context, q domain.Query, after *domain.RowKey, n int) (string, error) {
	if _, err := s.sql.ExecContext(ctx, "ANALYZE tickets"); err != nil {
		return "", err
	}
	sel := buildSelect(&postgresStyle, q)
	text, args := sel.first, []any{}
	if after != nil {
		text, args = sel.text, sel.keyArgs(args, sortArgs(&postgresStyle, q.Sort, after))
	}
	args = append(append(args, sel.filterArgs...), n)
	rows, err := s.sql.QueryContext(ctx, "EXPLAIN "+text, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		plan.WriteString(line + "\n")
	}
	return plan.String(), rows.Err()
}
