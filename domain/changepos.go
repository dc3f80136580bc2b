package domain

import (
	"log/slog"
	"slices"
	"strconv"
)

// ChangePos is a position in the change feed: the set of changes a reader
// has had. A change is a ticket row as one transaction left it, named by the
// transaction's number (Seq: PostgreSQL's 64-bit transaction id, SQLite's
// change counter) and the ticket's id.
//
// Transactions commit in any order, so what a reader has had is not a prefix
// of the transaction numbers: it is described, like a PostgreSQL snapshot,
// by Xmax — every transaction below it has been read — less the transactions
// still Pending when it was read (they had not committed), plus one
// transaction read only in part, up to a ticket id (Seq, ID). A change is
// delivered as soon as its own transaction commits, whatever other
// transactions stay open; a Pending transaction's changes are read when it
// commits. On SQLite, whose writers take turns, Pending is always empty.
//
// The zero ChangePos is the position before every change. A ChangePos is a
// value: its Pending slice is never modified once built, and may be shared.
type ChangePos struct {
	// Xmax: every transaction below it has been read unless it is in
	// Pending or is Seq.
	Xmax uint64
	// Pending lists, ascending, the transactions below Xmax not read; never
	// Seq.
	Pending []uint64
	// Seq, when not 0, is a transaction read in part: its changes to
	// tickets with ids up to ID have been read, the others not. Seq is at
	// most Xmax.
	Seq uint64
	ID  int64
}

// IsZero reports whether p is the zero position.
func (p ChangePos) IsZero() bool { return p.Xmax == 0 && p.Seq == 0 && len(p.Pending) == 0 }

// Covers reports whether a reader at p has had the change that transaction
// seq made to ticket id.
func (p ChangePos) Covers(seq uint64, id int64) bool {
	if p.Seq != 0 && seq == p.Seq {
		return id <= p.ID
	}
	if seq >= p.Xmax {
		return false
	}
	_, pending := slices.BinarySearch(p.Pending, seq)
	return !pending
}

// Floor is the lowest transaction whose changes p has not wholly had: every
// transaction below it has been read.
func (p ChangePos) Floor() uint64 {
	f := p.Xmax
	if len(p.Pending) > 0 {
		f = min(f, p.Pending[0])
	}
	if p.Seq != 0 {
		f = min(f, p.Seq)
	}
	return f
}

// Equal reports whether p and q are the same position.
func (p ChangePos) Equal(q ChangePos) bool {
	return p.Xmax == q.Xmax && p.Seq == q.Seq && p.ID == q.ID && slices.Equal(p.Pending, q.Pending)
}

// Includes reports whether a reader at p has had every change a reader at q
// has. It may answer false for positions it cannot compare cheaply; it
// never answers true wrongly.
func (p ChangePos) Includes(q ChangePos) bool {
	if q.Xmax > p.Xmax {
		return false
	}
	// Below q.Xmax, q has every transaction but its pending ones and its
	// partial one: each transaction p lacks there must be one of those.
	for _, x := range p.Pending {
		if x >= q.Xmax {
			break
		}
		if !q.lacks(x) && !(x == q.Seq && q.ID == minTicketID) {
			return false
		}
	}
	if p.Seq != 0 && p.Seq < q.Xmax {
		// p has only part of p.Seq: q must have no more.
		switch {
		case q.Seq == p.Seq:
			if q.ID > p.ID {
				return false
			}
		case !q.lacks(p.Seq):
			return false
		}
	}
	// q's partial transaction.
	if q.Seq != 0 && !p.Covers(q.Seq, q.ID) {
		return false
	}
	return true
}

// minTicketID is the lowest ticket id: a partial position up to it holds
// no change of its transaction.
const minTicketID = -1 << 63

// lacks reports whether p has had no change of transaction x at all.
func (p ChangePos) lacks(x uint64) bool {
	if p.Seq != 0 && x == p.Seq {
		return p.ID == minTicketID
	}
	if x >= p.Xmax {
		return true
	}
	_, pending := slices.BinarySearch(p.Pending, x)
	return pending
}

// Advance returns the position of a reader at start that has read, of the
// changes target covers and start does not, those up to (seq, id) in
// (transaction, ticket id) order: what the feed reports after each change
// of a read from start to target.
//
// It assumes what start covers, target does too (target is a later
// snapshot of the same database). Where it cannot say exactly — start or
// target read in part on the far side of (seq, id) — it says less: a
// reader that resumes from the result may be sent a change twice, never
// miss one.
func Advance(start, target ChangePos, seq uint64, id int64) ChangePos {
	out := ChangePos{Xmax: max(start.Xmax, seq), Seq: seq, ID: id}
	var pending []uint64
	// Below seq the reader has what target covers.
	for _, x := range target.Pending {
		if x >= seq {
			break
		}
		pending = append(pending, x)
	}
	if target.Seq != 0 && target.Seq < seq {
		pending = insertSorted(pending, target.Seq) // read in part: say none
	}
	// Above seq, what start covers.
	for _, x := range start.Pending {
		if x > seq && x < out.Xmax {
			pending = append(pending, x)
		}
	}
	if start.Seq != 0 && start.Seq > seq && start.Seq < out.Xmax {
		pending = insertSorted(pending, start.Seq)
	}
	if len(pending) > 0 {
		out.Pending = pending
	}
	return out
}

// insertSorted inserts x into the ascending s unless it is there.
func insertSorted(s []uint64, x uint64) []uint64 {
	i, found := slices.BinarySearch(s, x)
	if found {
		return s
	}
	return slices.Insert(s, i, x)
}

// Below returns the position that covers what p covers of the transactions
// below x, and nothing at or above it.
func (p ChangePos) Below(x uint64) ChangePos {
	out := ChangePos{Xmax: min(p.Xmax, x)}
	if n, _ := slices.BinarySearch(p.Pending, x); n > 0 {
		out.Pending = p.Pending[:n:n]
	}
	if p.Seq != 0 && p.Seq < x {
		out.Seq, out.ID = p.Seq, p.ID
	}
	return out
}

// CapPending returns p with at most n pending transactions: past that it
// covers only the transactions below the (n+1)th pending one, so that it
// stays small. It says less than p — a reader resuming from it may get
// changes twice — never more.
func (p ChangePos) CapPending(n int) ChangePos {
	if len(p.Pending) <= n {
		return p
	}
	return p.Below(p.Pending[n])
}

// String formats p for people and logs: the transaction below which every
// one has been read, then any pending transactions and the one read in
// part, as in 5002, 5002-[4990 4995] or 5002-[4990]@5001:17.
func (p ChangePos) String() string {
	b := strconv.AppendUint(nil, p.Xmax, 10)
	if len(p.Pending) > 0 {
		b = append(b, "-["...)
		for i, x := range p.Pending {
			if i > 0 {
				b = append(b, ' ')
			}
			b = strconv.AppendUint(b, x, 10)
		}
		b = append(b, ']')
	}
	if p.Seq != 0 {
		b = append(b, '@')
		b = strconv.AppendUint(b, p.Seq, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, p.ID, 10)
	}
	return string(b)
}

// LogValue logs p as its String, not as a struct.
func (p ChangePos) LogValue() slog.Value { return slog.StringValue(p.String()) }

// valid reports whether p is a position a server hands out: Pending
// ascending, below Xmax, without Seq; Seq at most Xmax.
func (p ChangePos) valid() bool {
	if p.Seq > p.Xmax {
		return false
	}
	for i, x := range p.Pending {
		if x >= p.Xmax || x == p.Seq || (i > 0 && x <= p.Pending[i-1]) {
			return false
		}
	}
	return true
}
