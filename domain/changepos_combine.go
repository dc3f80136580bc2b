package domain

import "slices"

// Meet returns a position that covers only changes both p and q cover: all
// of them where it can say so, less where it cannot (it holds one partial
// transaction at most). Pruning up to Meet(mark, read) takes only what a
// reader has read and what had committed when the mark was taken.
func Meet(p, q ChangePos) ChangePos {
	out := ChangePos{Xmax: min(p.Xmax, q.Xmax)}
	var pending []uint64
	for _, l := range [2][]uint64{p.Pending, q.Pending} {
		for _, x := range l {
			if x < out.Xmax {
				pending = append(pending, x)
			}
		}
	}
	// A partial transaction of either is covered by both up to the lower
	// of their ids: keep the first such, and count any other as pending.
	for _, s := range [2]uint64{p.Seq, q.Seq} {
		if s == 0 || s == out.Seq {
			continue
		}
		id, some := coveredUpTo(p, s)
		if qid, qsome := coveredUpTo(q, s); qid < id {
			id, some = qid, qsome
		}
		switch {
		case some && out.Seq == 0 && s <= out.Xmax:
			out.Seq, out.ID = s, id
		case s < out.Xmax:
			pending = append(pending, s)
		}
	}
	slices.Sort(pending)
	pending = slices.Compact(pending)
	if out.Seq != 0 {
		pending = slices.DeleteFunc(pending, func(x uint64) bool { return x == out.Seq })
	}
	if len(pending) > 0 {
		out.Pending = pending
	}
	return out
}

// coveredUpTo returns the highest ticket id of transaction s whose change
// p covers, and whether p covers any; MaxInt64 when it covers them all.
func coveredUpTo(p ChangePos, s uint64) (id int64, some bool) {
	switch {
	case p.Seq != 0 && s == p.Seq:
		return p.ID, p.ID != minTicketID
	case p.lacks(s):
		return minTicketID, false
	default:
		return maxTicketID, true
	}
}

// maxTicketID is the highest ticket id.
const maxTicketID = 1<<63 - 1

// Join returns a position that covers every change p or q covers, and
// more only where each holds a different transaction in part: Join then
// covers the whole of one of them. What was pruned up to positions p and q
// was pruned up to Join(p, q).
func Join(p, q ChangePos) ChangePos {
	out := ChangePos{Xmax: max(p.Xmax, q.Xmax)}
	// A transaction one of them holds in part is held by Join as far as
	// the further of the two goes: in part (one such at most), or whole.
	var whole []uint64
	for _, s := range [2]uint64{p.Seq, q.Seq} {
		if s == 0 || s == out.Seq {
			continue
		}
		id, _ := coveredUpTo(p, s)
		if qid, _ := coveredUpTo(q, s); qid > id {
			id = qid
		}
		if id != maxTicketID && out.Seq == 0 {
			out.Seq, out.ID = s, id
			continue
		}
		out.Xmax = max(out.Xmax, s+1)
		whole = append(whole, s)
	}
	// A transaction below out.Xmax is below p's or q's Xmax, or is a
	// partial one: Join lacks it only if both lack it, so only their
	// pending and partial transactions can be pending here.
	var pending []uint64
	for _, l := range [3][]uint64{p.Pending, q.Pending, {p.Seq, q.Seq}} {
		for _, x := range l {
			if x != 0 && x < out.Xmax && x != out.Seq && !slices.Contains(whole, x) && p.coversNone(x) && q.coversNone(x) {
				pending = append(pending, x)
			}
		}
	}
	slices.Sort(pending)
	pending = slices.Compact(pending)
	if len(pending) > 0 {
		out.Pending = pending
	}
	return out
}

// TookUpTo returns a position that covers every change a reader at p has
// had up to (seq, id), in (transaction, ticket id) order, where p covers
// that change: what p covers below seq — the whole of a transaction it
// holds in part, which a position with seq in part cannot say otherwise —
// and seq up to id. It is what a prune up to p took, when the last change
// it took was (seq, id): recording that, not all of p, refuses no reader
// for lacking what came after.
func TookUpTo(p ChangePos, seq uint64, id int64) ChangePos {
	return ChangePos{Xmax: seq, Pending: p.Below(seq).Pending, Seq: seq, ID: id}
}

// coversNone reports whether p covers no change of transaction x, not even
// as its partial transaction up to the lowest ticket id.
func (p ChangePos) coversNone(x uint64) bool {
	if p.Seq != 0 && x == p.Seq {
		return false
	}
	return p.lacks(x)
}
