// The sorted selects: a domain.Sort as SQL, identical in both dialects to
// domain.Sort.Compare, and its keyset continuation.

package gormstore

import (
	"strconv"

	"github.com/ticketstream/ticketstream/domain"
)

// The rank expressions of priority and status, to the letter those of the
// indexes of the sort migration, so that both planners match them: a
// priority orders by urgency, a status by its life cycle
// (domain.PriorityRank, domain.StatusRank), not by their text. A
// descending rank is the reversed rank ascending, so that a sort such as
// -priority,created_at is ascending throughout, like the id that ends
// every sort: its keyset is then one row comparison, which both databases
// read as an index range.
const (
	priorityRankSQL    = "(CASE priority WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2 WHEN 'urgent' THEN 3 END)"
	priorityUrgencySQL = "(CASE priority WHEN 'low' THEN 3 WHEN 'normal' THEN 2 WHEN 'high' THEN 1 WHEN 'urgent' THEN 0 END)"
	statusRankSQL      = "(CASE status WHEN 'new' THEN 0 WHEN 'open' THEN 1 WHEN 'pending' THEN 2 WHEN 'on_hold' THEN 3 WHEN 'solved' THEN 4 WHEN 'closed' THEN 5 END)"
	statusReversedSQL  = "(CASE status WHEN 'new' THEN 5 WHEN 'open' THEN 4 WHEN 'pending' THEN 3 WHEN 'on_hold' THEN 2 WHEN 'solved' THEN 1 WHEN 'closed' THEN 0 END)"
)

// sortExpr is what style orders key k by, and whether descending.
func sortExpr(style *sqlStyle, k domain.SortKey) (string, bool) {
	switch k.Field {
	case domain.SortPriority:
		if k.Desc {
			return priorityUrgencySQL, false
		}
		return priorityRankSQL, false
	case domain.SortStatus:
		if k.Desc {
			return statusReversedSQL, false
		}
		return statusRankSQL, false
	}
	return sortColumn(style, k.Field), k.Desc
}

// sortColumn is the column of a field that is not a rank.
func sortColumn(style *sqlStyle, f domain.SortField) string {
	switch f {
	case domain.SortCreatedAt:
		return "created_at"
	case domain.SortUpdatedAt:
		return "updated_at"
	case domain.SortTeam:
		return "team" + style.bytewise
	case domain.SortAssignee:
		return "assignee" + style.bytewise
	}
	panic("gormstore: unknown sort field " + f.String()) // Query.Validate refuses it first
}

// sortArgs returns the values of k's sort keys in s, then its id, as
// style's query parameters: what a keyset batch continues after.
func sortArgs(style *sqlStyle, s domain.Sort, k *domain.RowKey) []any {
	out := make([]any, 0, len(s)+1)
	for _, key := range s {
		var v any
		switch key.Field {
		case domain.SortPriority:
			v = rankArg(domain.PriorityRank(k.Priority), len(domain.Priorities), key.Desc)
		case domain.SortStatus:
			v = rankArg(domain.StatusRank(k.Status), len(domain.Statuses), key.Desc)
		case domain.SortCreatedAt:
			v = style.stamp(k.CreatedAt)
		case domain.SortUpdatedAt:
			v = style.stamp(k.UpdatedAt)
		case domain.SortTeam:
			v = k.Team
		case domain.SortAssignee:
			v = k.Assignee
		}
		out = append(out, v)
	}
	return append(out, k.ID)
}

// rankArg is a rank as the expression of sortExpr has it: reversed when
// descending.
func rankArg(rank, n int, desc bool) int64 {
	if desc {
		return int64(n - 1 - rank)
	}
	return int64(rank)
}

// writeSortedSelect writes the sorted batch query of q to b: with
// afterKey, of the rows strictly after a key, whose placeholders come
// first; it returns, for each of them, which value of the key (see
// sortArgs) it takes.
//
//	SELECT [keys,] … FROM tickets
//	WHERE k1 <= $1 AND (k1 < $2 OR (k1 = $3 AND (k2 > $4 OR (k2 = $5 AND id > $6)))) AND <filters>
//	ORDER BY k1 DESC, k2, id LIMIT $n
//
// The first key's bound is redundant but gives both planners an index
// range. When every key is ascending (ranks count as ascending, see
// sortExpr) the rest is one row comparison, (k1, k2, id) > ($2, $3, $4),
// which PostgreSQL reads as an index range whole; else the rows of the
// first key's value up to the key are read and filtered.
func writeSortedSelect(b *sqlBuilder, q domain.Query, afterKey bool) (slots []int) {
	style := b.style
	b.WriteString("SELECT ")
	if style.leadKeys {
		for _, k := range q.Sort {
			e, _ := sortExpr(style, k)
			b.WriteString(e + ", ")
		}
	}
	b.WriteString(ticketColumns + " FROM tickets WHERE TRUE")
	if !afterKey {
		return nil
	}
	first, desc := sortExpr(style, q.Sort[0])
	b.WriteString(" AND " + first + op(desc, " <= ", " >= ") + b.param() + " AND ")
	slots = append(slots, 0)
	if keysetAscending(style, q.Sort) {
		b.WriteString("(")
		for i, k := range q.Sort {
			e, _ := sortExpr(style, k)
			b.WriteString(e + ", ")
			slots = append(slots, i)
		}
		b.WriteString("id) > (")
		for range q.Sort {
			b.WriteString(b.param() + ", ")
		}
		b.WriteString(b.param() + ")")
		return append(slots, len(q.Sort))
	}
	for i, k := range q.Sort {
		e, desc := sortExpr(style, k)
		b.WriteString("(" + e + op(desc, " < ", " > ") + b.param() + " OR (" + e + " = " + b.param() + " AND ")
		slots = append(slots, i, i)
	}
	b.WriteString("id > " + b.param())
	for range q.Sort {
		b.WriteString("))")
	}
	return append(slots, len(q.Sort))
}

// keysetAscending reports whether every key of s is ascending as the
// sorted selects write it (ranks count as ascending, see sortExpr): its
// keyset is then one row comparison.
func keysetAscending(style *sqlStyle, s domain.Sort) bool {
	for _, k := range s {
		if _, desc := sortExpr(style, k); desc {
			return false
		}
	}
	return true
}

// writeKeysetUnion writes the batch after a key of a sort whose keys go
// both ways as a cascade of index ranges, in the sort's order: the rows
// equal to the key in every key with a greater id, then those equal in
// its first j keys and after it in key j+1, for j from the last key but
// one down to none. Each range is read only for what the ranges before it
// leave of the batch (LIMIT 0 reads nothing):
//
//	WITH range0 AS MATERIALIZED (SELECT … WHERE k1 = $1 AND k2 = $2 AND id > $3 AND <filters> ORDER BY k1, k2 DESC, id LIMIT $n),
//	  range1 AS MATERIALIZED (SELECT … WHERE k1 = $… AND k2 < $… AND <filters> ORDER BY … LIMIT ($… - (SELECT count(*) FROM range0))),
//	  range2 AS MATERIALIZED (SELECT … WHERE k1 > $… AND <filters> ORDER BY … LIMIT ($… - (SELECT count(*) FROM range0) - (SELECT count(*) FROM range1)))
//	SELECT * FROM (SELECT * FROM range0 UNION ALL SELECT * FROM range1 UNION ALL SELECT * FROM range2) AS after_key
//	ORDER BY k1, k2 DESC, id LIMIT $…
//
// With an index of the sort (AddSortIndex) each range is read in index
// order until the batch is full, as far as the planner follows the index:
// not the rows of the key's first-key value before it, which the single
// keyset of writeSortedSelect (whose row comparison needs keys that go one
// way) skips on every batch. Without such an index each range would be
// sorted on its own: Store.StreamTickets uses this only when the index
// exists, and only on PostgreSQL (see Store.keysetUnion). It returns the
// plan of its placeholders.
func writeKeysetUnion(b *sqlBuilder, q domain.Query) (plan []int) {
	m := len(q.Sort)
	b.WriteString("WITH ")
	for j := m; j >= 0; j-- {
		k := m - j // the range's number, in the sort's order
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString("range" + strconv.Itoa(k) + " AS MATERIALIZED (")
		writeSortedSelect(b, q, false)
		for i := range j {
			e, _ := sortExpr(b.style, q.Sort[i])
			b.WriteString(" AND " + e + " = " + b.param())
			plan = append(plan, i)
		}
		if j == m {
			b.WriteString(" AND id > " + b.param())
		} else {
			e, desc := sortExpr(b.style, q.Sort[j])
			b.WriteString(" AND " + e + op(desc, " < ", " > ") + b.param())
		}
		plan = append(plan, j)
		writeFilters(b, q)
		writeSortedOrder(b, q.Sort)
		b.WriteString(" LIMIT (" + b.param())
		for before := range k {
			b.WriteString(" - (SELECT count(*) FROM range" + strconv.Itoa(before) + ")")
		}
		b.WriteString("))")
		plan = append(plan, argFilters, argLimit)
	}
	b.WriteString(" SELECT * FROM (")
	for k := 0; k <= m; k++ {
		if k > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT * FROM range" + strconv.Itoa(k))
	}
	b.WriteString(") AS after_key")
	writeSortedOrder(b, q.Sort)
	b.WriteString(" LIMIT " + b.param())
	return append(plan, argLimit)
}

// writeSortedOrder writes the ORDER BY of sort s, the id last.
func writeSortedOrder(b *sqlBuilder, s domain.Sort) {
	b.WriteString(" ORDER BY ")
	for _, k := range s {
		e, desc := sortExpr(b.style, k)
		b.WriteString(e + op(desc, " DESC, ", ", "))
	}
	b.WriteString("id")
}

func op(desc bool, ifDesc, ifAsc string) string {
	if desc {
		return ifDesc
	}
	return ifAsc
}
