package domain

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestChangePos_Covers(t *testing.T) {
	t.Parallel()
	p := ChangePos{Xmax: 100, Pending: []uint64{50, 70}, Seq: 60, ID: 7}
	tests := []struct {
		seq  uint64
		id   int64
		want bool
	}{
		{1, 1, true}, {49, 1 << 62, true},
		{50, 1, false}, {70, -5, false}, // pending
		{60, 7, true}, {60, -3, true}, {60, 8, false}, // read in part
		{99, 1, true}, {100, 1, false}, {1 << 63, 1, false},
	}
	for _, tc := range tests {
		if got := p.Covers(tc.seq, tc.id); got != tc.want {
			t.Errorf("%v.Covers(%d, %d) = %v, want %v", p, tc.seq, tc.id, got, tc.want)
		}
	}
	if (ChangePos{}).Covers(0, 0) || (ChangePos{}).Covers(1, 1) {
		t.Error("the zero position covers a change")
	}
	// Read in part at Xmax: only that transaction's part above the rest.
	atXmax := ChangePos{Xmax: 10, Seq: 10, ID: 3}
	if !atXmax.Covers(10, 3) || atXmax.Covers(10, 4) || !atXmax.Covers(9, 99) || atXmax.Covers(11, 1) {
		t.Errorf("%v covers the wrong changes", atXmax)
	}
}

func TestChangePos_FloorBelowCap(t *testing.T) {
	t.Parallel()
	p := ChangePos{Xmax: 100, Pending: []uint64{50, 70, 80}, Seq: 60, ID: 7}
	if f := p.Floor(); f != 50 {
		t.Errorf("Floor = %d, want 50", f)
	}
	if f := (ChangePos{Xmax: 9, Seq: 4, ID: 1}).Floor(); f != 4 {
		t.Errorf("Floor with a partial transaction = %d, want 4", f)
	}
	below := p.Below(70)
	if want := (ChangePos{Xmax: 70, Pending: []uint64{50}, Seq: 60, ID: 7}); !below.Equal(want) {
		t.Errorf("Below(70) = %v, want %v", below, want)
	}
	if !p.Includes(below) {
		t.Errorf("%v does not include its own Below(70) %v", p, below)
	}
	capped := p.CapPending(1)
	if want := (ChangePos{Xmax: 70, Pending: []uint64{50}, Seq: 60, ID: 7}); !capped.Equal(want) {
		t.Errorf("CapPending(1) = %v, want %v", capped, want)
	}
	if got := p.CapPending(3); !got.Equal(p) {
		t.Errorf("CapPending(3) changed %v to %v", p, got)
	}
	if s := p.String(); s != "100-[50 70 80]@60:7" {
		t.Errorf("String = %q", s)
	}
}

func TestChangePos_Includes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p, q ChangePos
		want bool
	}{
		{ChangePos{}, ChangePos{}, true},
		{ChangePos{Xmax: 10}, ChangePos{Xmax: 9}, true},
		{ChangePos{Xmax: 9}, ChangePos{Xmax: 10}, false},
		{ChangePos{Xmax: 10, Pending: []uint64{5}}, ChangePos{Xmax: 10}, false},
		{ChangePos{Xmax: 10}, ChangePos{Xmax: 10, Pending: []uint64{5}}, true},
		{ChangePos{Xmax: 10, Pending: []uint64{5}}, ChangePos{Xmax: 6, Pending: []uint64{5}}, true},
		{ChangePos{Xmax: 10, Pending: []uint64{5}}, ChangePos{Xmax: 6, Seq: 5, ID: 1}, false},
		{ChangePos{Xmax: 10, Seq: 5, ID: 3}, ChangePos{Xmax: 10, Seq: 5, ID: 2}, true},
		{ChangePos{Xmax: 10, Seq: 5, ID: 2}, ChangePos{Xmax: 10, Seq: 5, ID: 3}, false},
		{ChangePos{Xmax: 10, Seq: 5, ID: 2}, ChangePos{Xmax: 10, Pending: []uint64{5}}, true},
		{ChangePos{Xmax: 10, Seq: 5, ID: 2}, ChangePos{Xmax: 6}, false},
		{ChangePos{Xmax: 12, Seq: 12, ID: 2}, ChangePos{Xmax: 12, Seq: 12, ID: 1}, true},
		{ChangePos{Xmax: 12}, ChangePos{Xmax: 12, Seq: 12, ID: 1}, false},
	}
	for _, tc := range tests {
		if got := tc.p.Includes(tc.q); got != tc.want {
			t.Errorf("%v.Includes(%v) = %v, want %v", tc.p, tc.q, got, tc.want)
		}
	}
}

// change is one row of a model database: a transaction and a ticket.
type change struct {
	seq uint64
	id  int64
}

// randomSnapshot covers the transactions below xmax but a random few.
func randomSnapshot(r *rand.Rand, xmax uint64, pendingFrom []uint64) ChangePos {
	p := ChangePos{Xmax: xmax}
	for _, x := range pendingFrom {
		if x < xmax && r.IntN(2) == 0 {
			p.Pending = append(p.Pending, x)
		}
	}
	for x := uint64(1); x < xmax; x++ {
		if r.IntN(6) == 0 && !slices.Contains(p.Pending, x) && !slices.Contains(pendingFrom, x) {
			p.Pending = append(p.Pending, x)
		}
	}
	slices.Sort(p.Pending)
	return p
}

// TestAdvance_MatchesTheChangesRead reads, in a model database, what a
// start position lacks of a later target's, and checks after each change
// that the position Advance gives covers exactly the changes the reader
// has had — the start's and those read so far — or, where the start was
// read in part beyond the change, no more than those.
func TestAdvance_MatchesTheChangesRead(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 2000 {
		start := randomSnapshot(r, 2+uint64(r.IntN(20)), nil)
		// Later: more transactions, and some of start's pending ones done.
		target := randomSnapshot(r, start.Xmax+uint64(r.IntN(10)), start.Pending)
		target.Pending = slices.DeleteFunc(target.Pending, func(x uint64) bool {
			return x < start.Xmax && !slices.Contains(start.Pending, x)
		})
		if len(target.Pending) == 0 {
			target.Pending = nil
		}
		if partial := round%3 == 0; partial {
			// The start read a transaction in part.
			var lacking []uint64
			for x := uint64(1); x <= start.Xmax; x++ {
				if !start.Covers(x, 0) && target.Covers(x, 0) {
					lacking = append(lacking, x)
				}
			}
			if len(lacking) > 0 {
				x := lacking[r.IntN(len(lacking))]
				start.Pending = slices.DeleteFunc(slices.Clone(start.Pending), func(y uint64) bool { return y == x })
				if len(start.Pending) == 0 {
					start.Pending = nil
				}
				start.Seq, start.ID = x, 2
			}
		}
		if !start.valid() || !target.valid() || !target.Includes(start) {
			t.Fatalf("round %d: bad model positions %v, %v", round, start, target)
		}
		var all, read []change
		for x := uint64(1); x < target.Xmax+2; x++ {
			for id := int64(1); id <= 4; id++ {
				all = append(all, change{x, id})
				if target.Covers(x, id) && !start.Covers(x, id) {
					read = append(read, change{x, id})
				}
			}
		}
		slices.SortFunc(read, func(a, b change) int { return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.id, b.id)) })
		for k, c := range read {
			p := Advance(start, target, c.seq, c.id)
			if !p.valid() {
				t.Fatalf("round %d: Advance(%v, %v, %d, %d) = %v, not a valid position", round, start, target, c.seq, c.id, p)
			}
			for _, a := range all {
				had := start.Covers(a.seq, a.id) || slices.Contains(read[:k+1], a)
				got := p.Covers(a.seq, a.id)
				if got && !had {
					t.Fatalf("round %d: Advance(%v, %v, %d, %d) = %v covers %v, which the reader never had", round, start, target, c.seq, c.id, p, a)
				}
				exact := start.Seq == 0 || start.Seq <= c.seq
				if exact && had && !got {
					t.Fatalf("round %d: Advance(%v, %v, %d, %d) = %v lacks %v, which the reader had", round, start, target, c.seq, c.id, p, a)
				}
			}
		}
		if len(read) > 0 {
			last := read[len(read)-1]
			if p := Advance(start, target, last.seq, last.id); !target.Includes(p) {
				t.Fatalf("round %d: the target %v does not include the last change's position %v", round, target, p)
			}
		}
	}
}
