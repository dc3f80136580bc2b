package app

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestHeldSet_BehavesLikeAMap runs random operations on a heldSet and on a
// map side by side, including ids and buckets that do not pack.
func TestHeldSet_BehavesLikeAMap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		ids   func(r *rand.Rand) int64
		ops   int
		bkts  uint32
		check int
	}{
		{"dense small ids", func(r *rand.Rand) int64 { return 1 + r.Int64N(3000) }, 60_000, 40, 997},
		{"sparse ids", func(r *rand.Rand) int64 { return 1 + r.Int64N(1<<40) }, 20_000, 1 << 16, 499},
		{"ids that do not pack", func(r *rand.Rand) int64 {
			switch r.IntN(4) {
			case 0:
				return math.MaxInt64 - r.Int64N(50)
			case 1:
				return -r.Int64N(50)
			}
			return 1 + r.Int64N(200)
		}, 20_000, 1 << 20, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			var s heldSet
			m := map[int64]uint32{}
			for op := range tc.ops {
				id := tc.ids(r)
				switch r.IntN(3) {
				case 0, 1:
					b := r.Uint32N(tc.bkts)
					s.Put(id, b)
					m[id] = b
				case 2:
					_, want := m[id]
					if got := s.Delete(id); got != want {
						t.Fatalf("op %d: Delete(%d) = %v, want %v", op, id, got, want)
					}
					delete(m, id)
				}
				if op%tc.check == 0 || op == tc.ops-1 {
					if s.Len() != len(m) {
						t.Fatalf("op %d: Len = %d, want %d", op, s.Len(), len(m))
					}
					for id, want := range m {
						if got, ok := s.Get(id); !ok || got != want {
							t.Fatalf("op %d: Get(%d) = %d, %v; want %d", op, id, got, ok, want)
						}
					}
					seen := 0
					s.Each(func(id int64, b uint32) {
						if m[id] != b {
							t.Fatalf("op %d: Each gave %d → %d, want %d", op, id, b, m[id])
						}
						seen++
					})
					if seen != len(m) {
						t.Fatalf("op %d: Each saw %d ids, want %d", op, seen, len(m))
					}
				}
			}
			for id := range m {
				s.Delete(id)
			}
			if s.Len() != 0 || len(s.slots) > minHeldSlots {
				t.Fatalf("emptied set: Len %d, %d slots kept", s.Len(), len(s.slots))
			}
		})
	}
}

// TestHeldSet_TicketCostsAtMost16Bytes: a dashboard holding many tickets
// costs at most 16 bytes a ticket in its held set.
func TestHeldSet_TicketCostsAtMost16Bytes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{10_000, 100_000, 300_000} {
		var s heldSet
		for id := range n {
			s.Put(int64(id+1), uint32(id%7))
		}
		if perTicket := float64(8*cap(s.slots)) / float64(n); perTicket > 16 {
			t.Errorf("%d tickets: %.1f bytes a ticket, want at most 16", n, perTicket)
		} else {
			t.Logf("%d tickets: %.1f bytes a ticket", n, perTicket)
		}
	}
}

func BenchmarkHeldSet_Get(b *testing.B) {
	var s heldSet
	for id := range 100_000 {
		s.Put(int64(id*7+1), 3)
	}
	b.ReportAllocs()
	var hits int
	for i := range b.N {
		if _, ok := s.Get(int64(i%200_000*7/2 + 1)); ok {
			hits++
		}
	}
	_ = hits
}
