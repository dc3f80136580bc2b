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
// again; one build or drop runs at a time. An order the schema indexes
// already (schemaSortIndexes) is an EInvalid error.
func (s *Store) AddSortIndex(ctx context.Context, sort domain.Sort) (string, error) {
	if err := CheckSortIndexable(sort); err != nil {
		return "", err
	}
	name := SortIndexName(sort)
	defer s.forgetSortIndexes()
	if s.Dialect() != Postgres {
		for _, stmt := range []string{sortIndexSQL(&sqliteStyle, sort, ""), "ANALYZE tickets"} {
			if err := s.gorm.WithContext(ctx).Exec(stmt).Error; err != nil {
				return "", fmt.Errorf("sort index %s: %w", name, err)
			}
		}
		return name, nil
	}
	return name, s.withoutStatementTimeout(ctx, func(conn *gorm.DB) error {
		if err := lockSortIndexes(conn); err != nil {
			return fmt.Errorf("sort index %s: %w", name, err)
		}
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

// sortIndexLock is the PostgreSQL advisory lock that one build or drop of
// a sort index holds at a time: two at once of the same index (two
// operators, two deploy jobs) would deadlock, one's DROP INDEX
// CONCURRENTLY of the half-built index against the other's build.
const sortIndexLock = 0x7469636b_736f7274 // "tick" "sort"

// lockSortIndexes takes sortIndexLock on conn, which
// withoutStatementTimeout releases; when another session holds
// it, it is an EUnavailable error at once. (Waiting for it inside a
// statement would hold a snapshot, which the other session's CREATE INDEX
// CONCURRENTLY waits for in turn.)
func lockSortIndexes(conn *gorm.DB) error {
	var got bool
	if err := conn.Raw("SELECT pg_try_advisory_lock(?)", int64(sortIndexLock)).Scan(&got).Error; err != nil {
		return err
	}
	if !got {
		return &domain.Error{Code: domain.EUnavailable, Message: "another session is building or dropping a sort index: run this again once it ends"}
	}
	return nil
}

// DropSortIndex drops the index AddSortIndex built for sort s, if there
// is one (ready or not), and returns its name and whether there was one.
func (s *Store) DropSortIndex(ctx context.Context, sort domain.Sort) (name string, existed bool, err error) {
	if err := CheckSortIndexable(sort); err != nil {
		return "", false, err
	}
	name = SortIndexName(sort)
	defer s.forgetSortIndexes()
	list, err := s.SortIndexes(ctx)
	if err != nil {
		return name, false, err
	}
	for _, ix := range list {
		existed = existed || ix.Name == name
	}
	if s.Dialect() != Postgres {
		if err := s.gorm.WithContext(ctx).Exec("DROP INDEX IF EXISTS " + name).Error; err != nil {
			return name, existed, fmt.Errorf("sort index %s: %w", name, err)
		}
		return name, existed, nil
	}
	return name, existed, s.withoutStatementTimeout(ctx, func(conn *gorm.DB) error {
		if err := lockSortIndexes(conn); err != nil {
			return fmt.Errorf("sort index %s: %w", name, err)
		}
		if err := conn.Exec("DROP INDEX CONCURRENTLY IF EXISTS " + name).Error; err != nil {
			return fmt.Errorf("sort index %s: %w", name, err)
		}
		return nil
	})
}

// SortIndex is one index that AddSortIndex built: its name, its
// definition as the database states it (on one line), and whether it is
// ready. One that is not is what a PostgreSQL build that failed half-way
// (cancelled, or its connection lost) left: writers may still pay for it
// while no read uses it, until AddSortIndex builds it again or
// DropSortIndex drops it.
type SortIndex struct {
	Name       string
	Definition string
	Valid      bool
}

// SortIndexes lists the indexes AddSortIndex built, by name.
func (s *Store) SortIndexes(ctx context.Context) ([]SortIndex, error) {
	query := `SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'tickets'::regclass AND starts_with(c.relname, $1) ORDER BY c.relname`
	if s.Dialect() != Postgres {
		query = `SELECT name, sql, TRUE FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets'
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
		if err := rows.Scan(&ix.Name, &ix.Definition, &ix.Valid); err != nil {
			return nil, fmt.Errorf("sort indexes: %w", err)
		}
		ix.Definition = strings.Join(strings.Fields(ix.Definition), " ")
		out = append(out, ix)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sort indexes: %w", err)
	}
	return out, nil
}

// ColumnSorts are the orders of one field each way — what the dashboard's
// column headers sort by — that the schema does not index: priority both
// ways, -status, -team and assignee both ways.
func ColumnSorts() []domain.Sort {
	var out []domain.Sort
	for _, f := range []domain.SortField{domain.SortPriority, domain.SortStatus, domain.SortCreatedAt, domain.SortUpdatedAt, domain.SortTeam, domain.SortAssignee} {
		for _, desc := range []bool{false, true} {
			sort := domain.Sort{{Field: f, Desc: desc}}
			if !schemaServes(sort) {
				out = append(out, sort)
			}
		}
	}
	return out
}

// schemaServes reports whether the schema's indexes serve sort: in order,
// or backwards (-created_at, -updated_at: the ids of a shared timestamp
// sorted).
func schemaServes(sort domain.Sort) bool {
	text := sort.String()
	_, ok := schemaSortIndexes[text]
	return ok || text == "-created_at" || text == "-updated_at"
}

// schemaSortIndexes are the orders the schema's migrations index, by the
// sort parameter that asks for them, and their indexes.
var schemaSortIndexes = map[string]string{
	"updated_at":           "tickets_order",
	"-priority,created_at": "tickets_sort_urgent",
	"created_at":           "tickets_sort_created",
	"status":               "tickets_sort_status",
	"team":                 "tickets_sort_team",
}

// CheckSortIndexable refuses what AddSortIndex and DropSortIndex refuse:
// a sort that is not one, and the orders the schema indexes (a second
// index would cost every write for nothing).
func CheckSortIndexable(sort domain.Sort) error {
	if len(sort) == 0 {
		return domain.Invalidf(domain.ParamSort, "no order given")
	}
	if err := sort.Validate(); err != nil {
		return err
	}
	if ix, ok := schemaSortIndexes[sort.String()]; ok {
		return domain.Invalidf(domain.ParamSort, "the schema indexes %s already (%s)", sort, ix)
	}
	return nil
}
