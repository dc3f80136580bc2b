package gormstore

import (
	"math"

	"github.com/ticketstream/ticketstream/domain"
)

// writeCovers writes to b a boolean expression over the columns
// {prefix}change_pos and {prefix}id: whether a reader at p has had that
// change (domain.ChangePos.Covers), and returns args with its values
// appended. On SQLite p has no pending transactions and the expression
// is a comparison of positions; PostgreSQL passes them as one array.
func writeCovers(b *sqlBuilder, prefix string, p domain.ChangePos, args []any) []any {
	seq := int64(-1) // no change is at -1: nothing read in part
	if p.Seq != 0 {
		seq = int64(min(p.Seq, math.MaxInt64))
	}
	b.WriteString("(CASE WHEN " + prefix + "change_pos = " + b.param() + " THEN " + prefix + "id <= " + b.param())
	b.WriteString(" ELSE " + prefix + "change_pos < " + b.param())
	args = append(args, seq, p.ID, int64(min(p.Xmax, math.MaxInt64)))
	if len(p.Pending) > 0 {
		pending := make([]int64, len(p.Pending))
		for i, x := range p.Pending {
			pending[i] = int64(min(x, math.MaxInt64))
		}
		args = b.style.notAmong(b, prefix+"change_pos", pending, args)
	}
	b.WriteString(" END)")
	return args
}

// floorArg is p's Floor as a query parameter: every change below it is
// covered, so a read of what p lacks starts its index range there.
func floorArg(p domain.ChangePos) int64 { return int64(min(p.Floor(), math.MaxInt64)) }
