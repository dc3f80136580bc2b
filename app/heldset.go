package app

import "math/bits"

// heldSet maps the ids of the tickets a dashboard holds to a small bucket
// number (see view). It is an open-addressing hash table of packed uint64
// slots — id in the high 48 bits, bucket in the low 16 — with linear probing
// and backward-shift deletion, so that a held ticket costs 8 bytes over the
// table's load factor (kept between 0.6 and 0.75 once it has grown: 11–14
// bytes) where a Go map of the same would cost about 40. Ids or buckets that
// do not fit the packing go to a map beside it. The zero heldSet is empty.
//
// It is not safe for concurrent use.
type heldSet struct {
	slots []uint64 // 0: empty; else id<<bucketBits | bucket
	n     int      // ids in slots
	big   map[int64]uint32
}

const (
	bucketBits = 16
	maxPacked  = 1<<(64-bucketBits) - 1 // the largest id that packs
	// minHeldSlots is the smallest table: 128 bytes for a dashboard that
	// holds a handful of tickets.
	minHeldSlots = 16
)

// Len returns how many ids the set holds.
func (s *heldSet) Len() int { return s.n + len(s.big) }

// home returns the slot where id's probe sequence starts: a multiplicative
// hash scaled to the table's length without a division.
func (s *heldSet) home(id int64) int {
	h := uint64(id) * 0x9E3779B97F4A7C15
	hi, _ := bits.Mul64(h, uint64(len(s.slots)))
	return int(hi)
}

// find returns the slot of id, or -1.
func (s *heldSet) find(id int64) int {
	if len(s.slots) == 0 {
		return -1
	}
	for i := s.home(id); ; {
		v := s.slots[i]
		if v == 0 {
			return -1
		}
		if int64(v>>bucketBits) == id {
			return i
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

// Get returns id's bucket, if id is held.
func (s *heldSet) Get(id int64) (uint32, bool) {
	if id <= 0 || id > maxPacked {
		b, ok := s.big[id]
		return b, ok
	}
	if i := s.find(id); i >= 0 {
		return uint32(s.slots[i] & (1<<bucketBits - 1)), true
	}
	if s.big != nil {
		b, ok := s.big[id]
		return b, ok
	}
	return 0, false
}

// Has reports whether id is held.
func (s *heldSet) Has(id int64) bool {
	if s.Len() == 0 {
		return false
	}
	_, ok := s.Get(id)
	return ok
}

// Put holds id in bucket, replacing its earlier bucket.
func (s *heldSet) Put(id int64, bucket uint32) {
	if id <= 0 || id > maxPacked || bucket >= 1<<bucketBits {
		s.Delete(id) // it may have packed with its earlier bucket
		if s.big == nil {
			s.big = map[int64]uint32{}
		}
		s.big[id] = bucket
		return
	}
	if s.big != nil {
		delete(s.big, id) // a no-op when id is not there
	}
	if 4*(s.n+1) > 3*len(s.slots) {
		s.resize(max(minHeldSlots, len(s.slots)+len(s.slots)/4))
	}
	v := uint64(id)<<bucketBits | uint64(bucket)
	for i := s.home(id); ; {
		switch cur := s.slots[i]; {
		case cur == 0:
			s.slots[i] = v
			s.n++
			return
		case int64(cur>>bucketBits) == id:
			s.slots[i] = v
			return
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

// Delete stops holding id; it reports whether id was held.
func (s *heldSet) Delete(id int64) bool {
	if s.big != nil {
		if _, ok := s.big[id]; ok {
			delete(s.big, id)
			return true
		}
	}
	if id <= 0 || id > maxPacked {
		return false
	}
	i := s.find(id)
	if i < 0 {
		return false
	}
	// Backward-shift deletion: move later entries of the probe run into
	// the hole when their home slot allows, so that no tombstones pile up.
	n := len(s.slots)
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		v := s.slots[j]
		if v == 0 {
			break
		}
		h := s.home(int64(v >> bucketBits))
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		if (i <= j && (h <= i || h > j)) || (i > j && h <= i && h > j) {
			s.slots[i] = v
			i = j
		}
	}
	s.slots[i] = 0
	s.n--
	if len(s.slots) > minHeldSlots && 8*s.n < len(s.slots) {
		s.resize(max(minHeldSlots, 2*s.n))
	}
	return true
}

// resize rehashes every entry into a table of n slots (n > s.n).
func (s *heldSet) resize(n int) {
	old := s.slots
	s.slots = make([]uint64, n)
	for _, v := range old {
		if v == 0 {
			continue
		}
		for i := s.home(int64(v >> bucketBits)); ; {
			if s.slots[i] == 0 {
				s.slots[i] = v
				break
			}
			if i++; i == n {
				i = 0
			}
		}
	}
}

// Each calls fn with every held id and its bucket, in no order.
func (s *heldSet) Each(fn func(id int64, bucket uint32)) {
	for _, v := range s.slots {
		if v != 0 {
			fn(int64(v>>bucketBits), uint32(v&(1<<bucketBits-1)))
		}
	}
	for id, b := range s.big {
		fn(id, b)
	}
}

// Reset empties the set and lets its memory go.
func (s *heldSet) Reset() { *s = heldSet{} }
