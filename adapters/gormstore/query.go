package gormstore

import (
	"math"
	"strings"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// ticketColumns is the select list every read uses, in the order the
// scanners expect.
const ticketColumns = "id, team, subject, status, priority, requester, assignee, tags, created_at, updated_at"

// ticketColumnCount is how many columns ticketColumns lists.
const ticketColumnCount = 10

// selectSQL is one batch query of a stream: its text depends only on which
// filters are set and how many values each has, so the driver's statement
// cache serves every batch of a stream and most streams.
type selectSQL struct {
	// text: in the default order, the batch after a cursor; sorted, the
	// batch after a key.
	text string
	// filterArgs are the filter values, in placeholder order after the cursor.
	filterArgs []any
	// search: the statement has a search condition (see
	// postgresEngine.readPages for how it is planned).
	search bool

	// sorted: the query has a domain.Sort, and the fields below are set.
	sorted bool
	// first is the first batch of a sorted stream, after no key.
	first string
	// plan is what text's placeholders take, run by run, in order: a key
	// value (see sortArgs) by its index, the filter values (argFilters)
	// or the batch size (argLimit).
	plan []int
	// lead is how many columns, the sort keys as stored, come before the
	// ticket's (see sqlStyle.leadKeys).
	lead int
}

// sqlBuilder writes a statement, numbering its placeholders in a dialect's
// style.
type sqlBuilder struct {
	strings.Builder
	style *sqlStyle
	n     int
}

// param writes nothing and returns the next placeholder.
func (b *sqlBuilder) param() string {
	b.n++
	return b.style.param(b.n)
}

// What a placeholder run of selectSQL.plan takes besides a key value.
const (
	argFilters = -1 // filterArgs, in order
	argLimit   = -2 // the batch size
)

// afterKeyArgs appends the parameters of text, the batch of n rows after
// the key whose values (see sortArgs) are key.
func (sel *selectSQL) afterKeyArgs(args, key []any, n int) []any {
	for _, p := range sel.plan {
		switch p {
		case argFilters:
			args = append(args, sel.filterArgs...)
		case argLimit:
			args = append(args, n)
		default:
			args = append(args, key[p])
		}
	}
	return args
}

// buildSelect writes the keyset batch query for q in style. Column names
// are fixed here; every value goes through a placeholder. In the default
// order the cursor is always the first two parameters and the batch size
// the last:
//
//	SELECT … FROM tickets
//	WHERE (updated_at, id) > ($1, $2) AND status = ANY($3) …
//	ORDER BY updated_at, id LIMIT $n
//
// A sorted query has two texts, the first batch's and the others' (see
// writeSortedSelect); with unionKeyset, the others' is a union of index
// ranges (see writeKeysetUnion).
func buildSelect(style *sqlStyle, q domain.Query, unionKeyset bool) selectSQL {
	if len(q.Sort) > 0 {
		first := &sqlBuilder{style: style}
		writeSortedSelect(first, q, false)
		args := writeFilters(first, q)
		writeSortedOrder(first, q.Sort)
		first.WriteString(" LIMIT " + first.param())

		b := &sqlBuilder{style: style}
		var plan []int
		if unionKeyset {
			plan = writeKeysetUnion(b, q)
		} else {
			plan = writeSortedSelect(b, q, true)
			writeFilters(b, q)
			writeSortedOrder(b, q.Sort)
			b.WriteString(" LIMIT " + b.param())
			plan = append(plan, argFilters, argLimit)
		}
		sel := selectSQL{text: b.String(), filterArgs: args, search: q.Search != "",
			sorted: true, first: first.String(), plan: plan}
		if style.leadKeys {
			sel.lead = len(q.Sort)
		}
		return sel
	}
	b := &sqlBuilder{style: style}
	b.WriteString("SELECT " + ticketColumns + " FROM tickets WHERE (updated_at, id) > (")
	b.WriteString(b.param() + ", " + b.param() + ")")
	args := writeFilters(b, q)
	b.WriteString(" ORDER BY updated_at, id LIMIT " + b.param())
	return selectSQL{text: b.String(), filterArgs: args, search: q.Search != ""}
}

// writeFilters writes " AND <condition>" for each of q's filters, its
// search and its snapshot watermark, and returns their values.
func writeFilters(b *sqlBuilder, q domain.Query) []any {
	style := b.style
	var args []any
	filter := func(column string, values []string) {
		if len(values) == 0 {
			return
		}
		args = style.in(b, column, values, args)
	}
	filter("status", stringsOf(q.Statuses))
	filter("priority", stringsOf(q.Priorities))
	filter("team", q.Teams)
	filter("assignee", q.Assignees)
	if q.Search != "" {
		args = style.search(b, likeContaining(q.Search), args)
	}
	if !q.AsOf.IsZero() {
		// The snapshot half of a live subscription: later changes come live.
		b.WriteString(" AND ")
		args = writeCovers(b, "", q.AsOf, args)
	}
	return args
}

func stringsOf[T ~string](vals []T) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out
}

// dbCursor turns a Cursor into the (updated_at, id) pair to compare rows
// with. Both databases keep microseconds; a cursor with finer precision
// (never one of ours) lies between two microseconds, so it becomes the last
// position of the microsecond below. The zero cursor sorts before every row.
func dbCursor(c domain.Cursor) (time.Time, int64) {
	if c.IsZero() {
		return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Microsecond), 0
	}
	t := c.UpdatedAt.UTC()
	if t.Nanosecond()%1000 != 0 {
		return t.Truncate(time.Microsecond), math.MaxInt64
	}
	return t, c.ID
}

// likeContaining returns the LIKE pattern (escape character \\) of the
// values that contain text.
func likeContaining(text string) string {
	var b strings.Builder
	b.Grow(len(text) + 2)
	b.WriteByte('%')
	for i := 0; i < len(text); i++ {
		if c := text[i]; c == '%' || c == '_' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(text[i])
	}
	b.WriteByte('%')
	return b.String()
}
