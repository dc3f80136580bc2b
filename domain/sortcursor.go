package domain

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"slices"
	"time"
)

// The sealed form of a sorted page's cursor: version, the number of sort
// keys, each key as one byte (the field, plus 0x80 when descending), then
// the last row's value of each key in the sort's order (a rank byte for
// priority and status; seconds and nanoseconds for a timestamp; a varint
// length and the bytes for team and assignee), its id, and the MAC. The
// sort is part of the sealed body, so a cursor resumes only the order it
// was issued for.
const (
	sortCursorVersion = 16
	sortDescBit       = 0x80
	// maxSortCursorLen bounds what OpenSortCursor decodes: a cursor of the
	// longest sort with team and assignee of a few kilobytes each.
	maxSortCursorLen = 8 << 10
)

// Messages of the refusals particular to sorted cursors.
const (
	msgOtherSort     = "the cursor belongs to another sort order: give the sort it was issued with, or start again without it"
	msgDefaultCursor = "the cursor belongs to the default order (no sort): give no sort, or start again without it"
	msgSortedCursor  = "the cursor belongs to a sorted page: give the sort it was issued with, or start again without it"
)

// AppendSortCursor appends the sealed, URL-safe cursor of the row of key k
// in sort s to dst: a request with the same sort resumes after that row.
// The default sort has no sorted cursor (see AppendCursor): it appends
// nothing.
func (s *CursorSealer) AppendSortCursor(dst []byte, sort Sort, k *RowKey) []byte {
	if len(sort) == 0 {
		return dst
	}
	var stack [128]byte
	b := appendSortBody(stack[:0], sort, k)
	var mac [macLen]byte
	b = append(b, mac[:]...)
	s.seal(b)
	return base64.RawURLEncoding.AppendEncode(dst, b)
}

// SortCursorString returns the sealed cursor of the row of key k in sort
// s; "" for the default sort.
func (s *CursorSealer) SortCursorString(sort Sort, k *RowKey) string {
	return string(s.AppendSortCursor(nil, sort, k))
}

// OpenSortCursor reads what SortCursorString produced for sort. A cursor
// of another sort, a default-order cursor, or one that is malformed or not
// sealed with this key is an EInvalid error naming the "cursor" parameter,
// whose message says which.
func (s *CursorSealer) OpenSortCursor(text string, sort Sort) (RowKey, error) {
	if len(text) > maxSortCursorLen {
		return RowKey{}, Invalidf(ParamCursor, msgMalformedCursor)
	}
	b, ok := decodeExactly(text, strictBase64.DecodedLen(len(text)))
	if !ok || len(b) < 1+macLen {
		return RowKey{}, Invalidf(ParamCursor, msgMalformedCursor)
	}
	if b[0] != sortCursorVersion {
		if _, err := s.OpenCursor(text); err == nil {
			return RowKey{}, Invalidf(ParamCursor, msgDefaultCursor)
		}
		return RowKey{}, Invalidf(ParamCursor, msgMalformedCursor)
	}
	if !s.verify(b) {
		return RowKey{}, Invalidf(ParamCursor, msgForgedCursor)
	}
	body := b[:len(b)-macLen]
	got, k, ok := getSortBody(body)
	if !ok {
		return RowKey{}, Invalidf(ParamCursor, msgMalformedCursor)
	}
	if !slices.Equal(got, sort) {
		return RowKey{}, Invalidf(ParamCursor, msgOtherSort)
	}
	return k, nil
}

// isSortCursor reports whether text decodes to something of a sorted
// cursor's version, so that a refusal can say which kind it is.
func isSortCursor(text string) bool {
	if len(text) > maxSortCursorLen {
		return false
	}
	b, ok := decodeExactly(text, strictBase64.DecodedLen(len(text)))
	return ok && len(b) > 1+macLen && b[0] == sortCursorVersion
}

// appendSortBody appends the unsealed body of a sorted cursor.
func appendSortBody(b []byte, sort Sort, k *RowKey) []byte {
	b = append(b, sortCursorVersion, byte(len(sort)))
	for _, key := range sort {
		c := byte(key.Field)
		if key.Desc {
			c |= sortDescBit
		}
		b = append(b, c)
	}
	for _, key := range sort {
		switch key.Field {
		case SortPriority:
			b = append(b, byte(PriorityRank(k.Priority)))
		case SortStatus:
			b = append(b, byte(StatusRank(k.Status)))
		case SortCreatedAt:
			b = appendStamp(b, k.CreatedAt)
		case SortUpdatedAt:
			b = appendStamp(b, k.UpdatedAt)
		case SortTeam:
			b = binary.AppendUvarint(b, uint64(len(k.Team)))
			b = append(b, k.Team...)
		case SortAssignee:
			b = binary.AppendUvarint(b, uint64(len(k.Assignee)))
			b = append(b, k.Assignee...)
		}
	}
	return binary.BigEndian.AppendUint64(b, uint64(k.ID))
}

func appendStamp(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// getSortBody reads what appendSortBody wrote, refusing what it never
// writes: the fields of the key the sort does not use stay zero.
func getSortBody(b []byte) (Sort, RowKey, bool) {
	var k RowKey
	if len(b) < 2 || b[0] != sortCursorVersion || int(b[1]) == 0 || int(b[1]) > len(sortFieldNames)-1 || len(b) < 2+int(b[1]) {
		return nil, k, false
	}
	sort := make(Sort, b[1])
	for i := range sort {
		c := b[2+i]
		sort[i] = SortKey{Field: SortField(c &^ sortDescBit), Desc: c&sortDescBit != 0}
	}
	if sort.Validate() != nil {
		return nil, k, false
	}
	r := b[2+len(sort):]
	ok := true
	rank := func(n int) int {
		if len(r) < 1 || int(r[0]) >= n {
			ok = false
			return 0
		}
		v := int(r[0])
		r = r[1:]
		return v
	}
	stamp := func() time.Time {
		if len(r) < 12 {
			ok = false
			return time.Time{}
		}
		sec, nsec := int64(binary.BigEndian.Uint64(r)), binary.BigEndian.Uint32(r[8:])
		r = r[12:]
		if nsec >= 1e9 || sec < minCursorUnix || sec > maxCursorUnix {
			ok = false
			return time.Time{}
		}
		return time.Unix(sec, int64(nsec)).UTC()
	}
	text := func() string {
		n, w := binary.Uvarint(r)
		if w <= 0 || n > uint64(len(r)-w) {
			ok = false
			return ""
		}
		v := string(r[w : w+int(n)])
		r = r[w+int(n):]
		return v
	}
	for _, key := range sort {
		switch key.Field {
		case SortPriority:
			k.Priority = Priorities[rank(len(Priorities))]
		case SortStatus:
			k.Status = Statuses[rank(len(Statuses))]
		case SortCreatedAt:
			k.CreatedAt = stamp()
		case SortUpdatedAt:
			k.UpdatedAt = stamp()
		case SortTeam:
			k.Team = text()
		case SortAssignee:
			k.Assignee = text()
		}
		if !ok {
			return nil, k, false
		}
	}
	if len(r) != 8 {
		return nil, k, false
	}
	k.ID = int64(binary.BigEndian.Uint64(r))
	// One cursor, one text: a varint written longer than needed is refused.
	if k.ID <= 0 || !bytes.Equal(appendSortBody(nil, sort, &k), b) {
		return nil, k, false
	}
	return sort, k, true
}
