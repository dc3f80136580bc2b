package domain

import (
	"math/rand"
	"testing"
)

// brute-force checks of Advance and Includes on small universes.

func randPos(r *rand.Rand, n uint64, withSeq bool) ChangePos {
	p := ChangePos{Xmax: 1 + uint64(r.Intn(int(n)))}
	for x := uint64(1); x < p.Xmax; x++ {
		if r.Intn(3) == 0 {
			p.Pending = append(p.Pending, x)
		}
	}
	if withSeq && r.Intn(2) == 0 {
		s := 1 + uint64(r.Intn(int(p.Xmax)))
		// Seq must not be pending.
		var keep []uint64
		for _, x := range p.Pending {
			if x != s {
				keep = append(keep, x)
			}
		}
		p.Pending = keep
		p.Seq, p.ID = s, int64(r.Intn(4))
		if r.Intn(5) == 0 {
			p.ID = minTicketID
		}
	}
	if len(p.Pending) == 0 {
		p.Pending = nil
	}
	return p
}

var ids = []int64{minTicketID, 0, 1, 2, 3, 4}

func TestChangePos_IncludesNeverWronglyTrue(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 200000; i++ {
		p, q := randPos(r, 8, true), randPos(r, 8, true)
		if !p.valid() || !q.valid() || !p.Includes(q) {
			continue
		}
		for x := uint64(1); x < 11; x++ {
			for _, id := range ids {
				if q.Covers(x, id) && !p.Covers(x, id) {
					t.Fatalf("%v.Includes(%v) but q covers (%d,%d) and p does not", p, q, x, id)
				}
			}
		}
	}
}

// The feed's main phase: start whole, target a later whole snapshot; the
// reader reads target\start in (seq,id) order.
func TestAdvance_SaysExactlyWhatWasReadInOrder(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 100000; i++ {
		start := randPos(r, 8, false)
		target := randPos(r, 12, false)
		if target.Xmax < start.Xmax {
			continue
		}
		ok := true
		for x := uint64(1); x < 14; x++ {
			if start.Covers(x, 0) && !target.Covers(x, 0) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		read := map[[2]int64]bool{}
		for x := uint64(1); x < 14; x++ {
			for _, id := range []int64{1, 2, 3} {
				if start.Covers(x, id) || !target.Covers(x, id) {
					continue
				}
				read[[2]int64{int64(x), id}] = true
				p := Advance(start, target, x, id)
				for y := uint64(1); y < 16; y++ {
					for _, jd := range []int64{1, 2, 3} {
						had := start.Covers(y, jd) || read[[2]int64{int64(y), jd}]
						if p.Covers(y, jd) && !had {
							t.Fatalf("Advance(%v,%v,%d,%d)=%v covers (%d,%d) not read", start, target, x, id, p, y, jd)
						}
					}
				}
			}
		}
	}
}

func TestMeetAndJoin_CoverWhatBothAndEitherCover(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 200000; i++ {
		p, q := randPos(r, 8, true), randPos(r, 8, true)
		if !p.valid() || !q.valid() {
			continue
		}
		meet, join := Meet(p, q), Join(p, q)
		if !meet.valid() || !join.valid() {
			t.Fatalf("Meet(%v, %v) = %v, Join = %v: not positions a server hands out", p, q, meet, join)
		}
		whole := p.Seq == 0 && q.Seq == 0
		for x := uint64(1); x < 11; x++ {
			for _, id := range ids {
				both, either := p.Covers(x, id) && q.Covers(x, id), p.Covers(x, id) || q.Covers(x, id)
				if meet.Covers(x, id) && !both {
					t.Fatalf("Meet(%v, %v) = %v covers (%d,%d), which one of them does not", p, q, meet, x, id)
				}
				if either && !join.Covers(x, id) {
					t.Fatalf("Join(%v, %v) = %v lacks (%d,%d), which one of them covers", p, q, join, x, id)
				}
				if whole && (meet.Covers(x, id) != both || join.Covers(x, id) != either) {
					t.Fatalf("Meet(%v, %v) = %v, Join = %v: not exact at (%d,%d) for whole positions", p, q, meet, join, x, id)
				}
				// The first prune records exactly what it took.
				if first := Join(ChangePos{}, p); first.Covers(x, id) != p.Covers(x, id) {
					t.Fatalf("Join(zero, %v) = %v: not exact at (%d,%d)", p, first, x, id)
				}
			}
		}
	}
}

func TestTookUpTo_CoversWhatThePositionCoversUpToTheLastChange(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for i := 0; i < 100000; i++ {
		p := randPos(r, 8, true)
		seq, id := uint64(1+r.Intn(9)), ids[1+r.Intn(len(ids)-1)]
		if !p.valid() || !p.Covers(seq, id) {
			continue
		}
		took := TookUpTo(p, seq, id)
		if !took.valid() {
			t.Fatalf("TookUpTo(%v, %d, %d) = %v: not a position a server hands out", p, seq, id, took)
		}
		for x := uint64(1); x < 11; x++ {
			for _, i := range ids {
				upTo := x < seq || (x == seq && i <= id)
				if upTo && p.Covers(x, i) && !took.Covers(x, i) {
					t.Fatalf("TookUpTo(%v, %d, %d) = %v lacks (%d,%d)", p, seq, id, took, x, i)
				}
				if !upTo && took.Covers(x, i) {
					t.Fatalf("TookUpTo(%v, %d, %d) = %v covers (%d,%d), after the last change", p, seq, id, took, x, i)
				}
			}
		}
	}
}
