// The PostgreSQL feed's page query (see postgres_feed.go): what a read's
// start lacks, in three index ranges, with each value passed once and the
// text cached by shape.

package gormstore

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ticketstream/ticketstream/domain"
)

// pageQueries caches the text of the page queries by shape (see
// pgRead.shape): a poll builds only its arguments.
var pageQueries sync.Map // uint8 → string

// pageQuery returns the text and arguments of r's page query of changed
// tickets, or of removals.
func (s *postgresEngine) pageQuery(r *pgRead, removals bool) (string, []any) {
	shape := r.shape(removals)
	q := pgPageQuery{r: r, removals: removals, textToo: true}
	if text, ok := pageQueries.Load(shape); ok {
		q.textToo = false
		q.write()
		return text.(string), q.args
	}
	q.write()
	text := q.text.String()
	pageQueries.Store(shape, text)
	return text, q.args
}

// shape says which parts a page query has: queries of one shape have the
// same text.
func (r *pgRead) shape(removals bool) uint8 {
	var bits uint8
	set := func(bit uint8, on bool) {
		if on {
			bits |= bit
		}
	}
	inPart, pending := r.partsAfterKey()
	set(1, removals)
	set(2, r.explicit)
	set(4, inPart)
	set(8, len(pending) > 0)
	set(16, r.partPhase)
	return bits
}

// partsAfterKey returns whether the transaction of the last change read is
// one the start lacked below its xmax, and the start's other such
// transactions after it.
func (r *pgRead) partsAfterKey() (inPart bool, pending []int64) {
	if r.partPhase {
		return true, nil
	}
	if _, ok := slices.BinarySearch(r.from.Pending, r.key.seq); ok || (r.from.Seq != 0 && r.key.seq == r.from.Seq && r.from.Seq < r.from.Xmax) {
		inPart = true
	}
	for _, x := range r.from.Pending {
		if x > r.key.seq {
			pending = append(pending, int64(min(x, math.MaxInt64)))
		}
	}
	if s := r.from.Seq; s != 0 && s < r.from.Xmax && s > r.key.seq {
		i, _ := slices.BinarySearch(pending, int64(s))
		pending = slices.Insert(pending, i, int64(s))
	}
	return inPart, pending
}

// pgPageQuery writes a page query: each value is one parameter, however
// often the text refers to it, so that a poll encodes a dozen values.
type pgPageQuery struct {
	r        *pgRead
	removals bool
	textToo  bool // write the text, not only collect the arguments
	text     strings.Builder
	args     []any
}

// param adds v and returns its placeholder.
func (q *pgPageQuery) param(v any) string {
	q.args = append(q.args, v)
	if !q.textToo {
		return ""
	}
	return "$" + strconv.Itoa(len(q.args))
}

func (q *pgPageQuery) w(parts ...string) {
	if q.textToo {
		for _, p := range parts {
			q.text.WriteString(p)
		}
	}
}

// pos holds a position's placeholders.
type posParams struct{ seq, id, xmax, pending string }

func (q *pgPageQuery) pos(p domain.ChangePos) posParams {
	seq := int64(-1) // no change is at -1: nothing read in part
	if p.Seq != 0 {
		seq = int64(min(p.Seq, math.MaxInt64))
	}
	pending := make([]int64, len(p.Pending))
	for i, x := range p.Pending {
		pending[i] = int64(min(x, math.MaxInt64))
	}
	return posParams{q.param(seq), q.param(p.ID), q.param(int64(min(p.Xmax, math.MaxInt64))), q.param(pending)}
}

// covers is the text of domain.ChangePos.Covers of p for the change in
// columns {col}change_pos and {col}id.
func (q *pgPageQuery) covers(col string, p posParams) {
	q.w("(CASE WHEN ", col, "change_pos = ", p.seq, " THEN ", col, "id <= ", p.id,
		" ELSE ", col, "change_pos < ", p.xmax, " AND ", col, "change_pos <> ALL(", p.pending, "::bigint[]) END)")
}

// write writes the page's query of changed tickets, or of removals: the
// union of what the read's start lacks in three index ranges, each after
// the last change read — the rest of the transaction being read, the
// start's pending transactions after it, and every transaction from the
// start's xmax on — ordered. In the part phase only the first.
func (q *pgPageQuery) write() {
	r := q.r
	q.args = make([]any, 0, 16)
	from := q.pos(r.from)
	var target posParams
	if r.explicit {
		target = q.pos(r.target)
	}
	n := q.param(r.n)
	inPart, pending := r.partsAfterKey()
	arms := 0
	arm := func(cond func()) {
		arms++
		if arms > 1 {
			q.w(" UNION ALL ")
		}
		q.w("(SELECT change_pos")
		if q.removals {
			q.w(", id FROM ticket_removals t WHERE ")
		} else {
			q.w(", ", ticketColumns, " FROM tickets t WHERE ")
		}
		cond()
		q.w(" AND NOT ")
		q.covers("t.", from)
		if r.explicit {
			q.w(" AND ")
			q.covers("t.", target)
		}
		if q.removals {
			// A ticket deleted and inserted again is no removal — unless,
			// on a later page, its new row is one the target does not
			// cover yet: the removal is read now, the ticket next time.
			q.w(" AND NOT EXISTS (SELECT 1 FROM tickets x WHERE x.id = t.id")
			if r.explicit {
				q.w(" AND ")
				q.covers("x.", target)
			}
			q.w(")")
		}
		q.w(" ORDER BY change_pos, id LIMIT ", n, ")")
	}
	if inPart {
		arm(func() { q.w("change_pos = ", q.param(keySeq(r.key)), " AND id > ", q.param(r.key.id)) })
	}
	if !r.partPhase {
		if len(pending) > 0 {
			arm(func() { q.w("change_pos = ANY(", q.param(pending), "::bigint[])") })
		}
		// The range from the start's xmax begins after the start's partial
		// transaction's part when that one is at xmax.
		tail := rowKey{r.from.Xmax, math.MinInt64}
		if r.from.Seq != 0 && r.from.Seq == r.from.Xmax {
			tail.id = r.from.ID
		}
		if r.key.compare(tail) > 0 {
			tail = r.key
		}
		arm(func() {
			q.w("change_pos >= ", from.xmax, " AND (change_pos, id) > (", q.param(keySeq(tail)), ", ", q.param(tail.id), ")")
		})
	}
	if q.textToo {
		inner := q.text.String()
		q.text.Reset()
		q.w("SELECT * FROM (", inner, ") AS page ORDER BY change_pos, id LIMIT ", n)
	}
}
