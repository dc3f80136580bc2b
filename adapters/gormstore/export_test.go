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

// ExplainSorted returns the database's plan of the first batch of n rows
// of the sorted query q and, with after set, of the batch after that key:
// PostgreSQL's EXPLAIN, SQLite's EXPLAIN QUERY PLAN (one step a line).
func (s *Store) ExplainSorted(ctx context.Context, q domain.Query, after *domain.RowKey, n int) (string, error) {
	if _, err := s.sql.ExecContext(ctx, "ANALYZE tickets"); err != nil {
		return "", err
	}
	style, explain := &postgresStyle, "EXPLAIN "
	if s.Dialect() != Postgres {
		style, explain = &sqliteStyle, "EXPLAIN QUERY PLAN "
	}
	sel := buildSelect(style, q, s.keysetUnion(ctx, q.Sort))
	text, args := sel.first, append(append([]any{}, sel.filterArgs...), n)
	if after != nil {
		text, args = sel.text, sel.afterKeyArgs(nil, sortArgs(style, q.Sort, after), n)
	}
	rows, err := s.sql.QueryContext(ctx, explain+text, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var plan strings.Builder
	for rows.Next() {
		var line string
		dest := make([]any, len(cols)) // SQLite: id, parent, notused, detail
		for i := range dest {
			dest[i] = new(any)
		}
		dest[len(dest)-1] = &line
		if err := rows.Scan(dest...); err != nil {
			return "", err
		}
		plan.WriteString(line + "\n")
	}
	return plan.String(), rows.Err()
}

// ExecSQL runs statement, which takes no arguments, on the store's
// database: another program's writer, in one transaction of its own.
func (s *Store) ExecSQL(ctx context.Context, statement string) error {
	_, err := s.sql.ExecContext(ctx, statement)
	return err
}
