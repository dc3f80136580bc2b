package gormstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"gorm.io/gorm"

	"github.com/ticketstream/ticketstream/domain"
)

// Sort indexes of the operator's choosing. The sort migration indexes the
// orders a queue asks for most (PostgreSQL 00009, SQLite 00007); any other
// order is a sort of the filter's rows on each page and each window
// refill. An index costs every write, so which other orders deserve one is
// the operator's call, made with `ticketstream migrate --sort-index`: the
// index it builds has the sort's own expressions, to the letter those of
// the sorted selects (sortExpr), each in its direction, then the id, so a
// page of that order is read in index order. On PostgreSQL it is built
// CONCURRENTLY, without blocking writers.

// sortIndexPrefix starts the name of every index AddSortIndex builds, and
// no other's.
const sortIndexPrefix = "tickets_by_"

// SortIndexName is the name of the index that AddSortIndex builds for s:
// readable where it fits PostgreSQL's 63 bytes, else cut and ended with a
// hash of the whole, so that two sorts never share a name.
func SortIndexName(s domain.Sort) string {
	parts := make([]string, len(s))
	for i, k := range s {
		parts[i] = k.Field.String()
		if k.Desc {
			parts[i] += "_desc"
		}
	}
	name := sortIndexPrefix + strings.Join(parts, "__")
	if len(name) <= 63 {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(s.String()))
	return fmt.Sprintf("%s_%08x", name[:54], h.Sum32())
}

// sortIndexSQL is the CREATE INDEX of s in style: its keys as the sorted
// selects order by them, then the id.
func sortIndexSQL(style *sqlStyle, s domain.Sort, concurrently string) string {
	var b strings.Builder
	b.WriteString("CREATE INDEX " + concurrently + "IF NOT EXISTS " + SortIndexName(s) + " ON tickets (")
	for _, k := range s {
		e, desc := sortExpr(style, k)
		b.WriteString(e + op(desc, " DESC, ", ", "))
	}
	b.WriteString("id)")
	return b.String()
}

// AddSortIndex builds the index that serves sort s (see SortIndexName),
// unless it exists, and returns its name. On PostgreSQL it is built
// without blocking writers (about as long per million tickets as a bulk
// load's index build); a build that failed half-way is dropped and built
// again. The default order has its index already: asking for it is an
// EInvalid error.
func (s *Store) AddSortIndex(ctx context.Context, sort domain.Sort) (string, error) {
	if err := checkSortIndexable(sort); err != nil {
		return "", err
	}
	name := SortIndexName(sort)
	if s.Dialect() != Postgres {
		for _, stmt := range []string{sortIndexSQL(&sqliteStyle, sort, ""), "ANALYZE tickets"} {
			if err := s.gorm.WithContext(ctx).Exec(stmt).Error; err != nil {
				return "", fmt.Errorf("sort index %s: %w", name, err)
			}
		}
		return name, nil
	}
	return name, s.withoutStatementTimeout(ctx, func(conn *gorm.DB) error {
		var valid []bool
		if err := conn.Raw(`SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			WHERE i.indrelid = 'tickets'::regclass AND c.relname = ?`, name).Scan(&valid).Error; err != nil {
			return fmt.Errorf("sort index %s: %w", name, err)
		}
		if len(valid) == 1 && valid[0] {
			return nil
		}
		for _, stmt := range []string{
			"DROP INDEX CONCURRENTLY IF EXISTS " + name,
			sortIndexSQL(&postgresStyle, sort, "CONCURRENTLY "),
			"ANALYZE tickets",
		} {
			if err := conn.Exec(stmt).Error; err != nil {
				return fmt.Errorf("sort index %s: %w", name, err)
			}
		}
		return nil
	})
}

// DropSortIndex drops the index AddSortIndex built for sort s, if there
// is one, and returns its name.
func (s *Store) DropSortIndex(ctx context.Context, sort domain.Sort) (string, error) {
	if err := checkSortIndexable(sort); err != nil {
		return "", err
	}
	name := SortIndexName(sort)
	if s.Dialect() != Postgres {
		if err := s.gorm.WithContext(ctx).Exec("DROP INDEX IF EXISTS " + name).Error; err != nil {
			return "", fmt.Errorf("sort index %s: %w", name, err)
		}
		return name, nil
	}
	return name, s.withoutStatementTimeout(ctx, func(conn *gorm.DB) error {
		if err := conn.Exec("DROP INDEX CONCURRENTLY IF EXISTS " + name).Error; err != nil {
			return fmt.Errorf("sort index %s: %w", name, err)
		}
		return nil
	})
}

// SortIndex is one index that AddSortIndex built: its name and its
// definition as the database states it.
type SortIndex struct {
	Name       string
	Definition string
}

// SortIndexes lists the indexes AddSortIndex built, by name; on
// PostgreSQL only those that are ready (a build that failed half-way is
// not).
func (s *Store) SortIndexes(ctx context.Context) ([]SortIndex, error) {
	query := `SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'tickets'::regclass AND i.indisvalid AND starts_with(c.relname, $1) ORDER BY c.relname`
	if s.Dialect() != Postgres {
		query = `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets'
			AND substr(name, 1, length(?1)) = ?1 ORDER BY name`
	}
	var out []SortIndex
	rows, err := s.sql.QueryContext(ctx, query, sortIndexPrefix)
	if err != nil {
		return nil, fmt.Errorf("sort indexes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ix SortIndex
		if err := rows.Scan(&ix.Name, &ix.Definition); err != nil {
			return nil, fmt.Errorf("sort indexes: %w", err)
		}
		out = append(out, ix)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sort indexes: %w", err)
	}
	return out, nil
}

// checkSortIndexable refuses the default order (its index is the
// schema's) and a sort that is not one.
func checkSortIndexable(sort domain.Sort) error {
	if len(sort) == 0 || sort.IsDefault() {
		return domain.Invalidf(domain.ParamSort, "the default order, updated_at, has its index already")
	}
	return sort.Validate()
}

// withoutStatementTimeout runs fn on one PostgreSQL connection, outside a
// transaction (CONCURRENTLY needs that), without the statement timeout of
// the server's queries: an index build takes about a minute per million
// tickets.
func (s *Store) withoutStatementTimeout(ctx context.Context, fn func(conn *gorm.DB) error) error {
	return s.gorm.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		if err := conn.Exec("SET statement_timeout = 0").Error; err != nil {
			return fmt.Errorf("index build: %w", err)
		}
		defer conn.Exec("RESET statement_timeout")
		return fn(conn)
	})
}
