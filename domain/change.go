package domain

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"time"
)

// ChangePos is a position in the change feed: (Seq, ID) ascending, where Seq
// orders the transactions that wrote tickets (PostgreSQL's 64-bit transaction
// id; SQLite's change counter) and ID the tickets one transaction wrote. A
// feed is read only up to a horizon below which every transaction has
// finished, so a position, once passed, never gains a change before it.
//
// The zero ChangePos is the position before every change.
type ChangePos struct {
	Seq uint64
	ID  int64
}

// IsZero reports whether p is the zero position.
func (p ChangePos) IsZero() bool { return p.Seq == 0 && p.ID == 0 }

// Compare returns -1, 0 or +1 as p sorts before, with or after q.
func (p ChangePos) Compare(q ChangePos) int {
	switch {
	case p.Seq < q.Seq:
		return -1
	case p.Seq > q.Seq:
		return 1
	case p.ID < q.ID:
		return -1
	case p.ID > q.ID:
		return 1
	}
	return 0
}

// LiveCursor is where a live subscription stands, as a client holds it to
// resume after a reconnect, a server restart or a switch of replica.
//
// A subscription has a watermark: its snapshot holds the tickets as last
// changed at or before the watermark, and every later change comes live. The
// cursor records the watermark, how far the snapshot got, and the last live
// change sent; resuming continues the snapshot (if unfinished) and sends the
// changes after Live, so that nothing is missed and nothing sent twice.
type LiveCursor struct {
	// Filter is FilterHash of the subscription's query: a cursor resumes only
	// the subscription it came from.
	Filter uint32
	// Watermark splits snapshot from live: see above.
	Watermark ChangePos
	// Snapshot is the position of the last snapshot row sent.
	Snapshot Cursor
	// SnapshotDone says the whole snapshot was sent.
	SnapshotDone bool
	// Live is the position of the last live change sent (at least Watermark).
	Live ChangePos
}

const (
	liveCursorVersion = 2
	liveCursorLen     = 1 + 1 + 4 + 16 + 8 + 4 + 8 + 16
)

var encodedLiveCursorLen = base64.RawURLEncoding.EncodedLen(liveCursorLen)

// AppendText appends the opaque, URL-safe form of c to dst.
func (c LiveCursor) AppendText(dst []byte) []byte {
	var b [liveCursorLen]byte
	b[0] = liveCursorVersion
	if c.SnapshotDone {
		b[1] = 1
	}
	binary.BigEndian.PutUint32(b[2:], c.Filter)
	putPos(b[6:], c.Watermark)
	var sec int64
	var nsec uint32
	if !c.Snapshot.IsZero() {
		sec, nsec = c.Snapshot.UpdatedAt.Unix(), uint32(c.Snapshot.UpdatedAt.Nanosecond())
	}
	binary.BigEndian.PutUint64(b[22:], uint64(sec))
	binary.BigEndian.PutUint32(b[30:], nsec)
	binary.BigEndian.PutUint64(b[34:], uint64(c.Snapshot.ID))
	putPos(b[42:], c.Live)
	return base64.RawURLEncoding.AppendEncode(dst, b[:])
}

// String returns the opaque form of c.
func (c LiveCursor) String() string { return string(c.AppendText(nil)) }

func putPos(b []byte, p ChangePos) {
	binary.BigEndian.PutUint64(b, p.Seq)
	binary.BigEndian.PutUint64(b[8:], uint64(p.ID))
}

func getPos(b []byte) ChangePos {
	return ChangePos{Seq: binary.BigEndian.Uint64(b), ID: int64(binary.BigEndian.Uint64(b[8:]))}
}

// ParseLiveCursor parses the String form of a LiveCursor. Anything String
// did not produce is an EInvalid error naming the "cursor" parameter.
func ParseLiveCursor(s string) (LiveCursor, error) {
	bad := Invalidf(ParamCursor, "malformed live cursor")
	if len(s) != encodedLiveCursorLen {
		return LiveCursor{}, bad
	}
	var b [liveCursorLen]byte
	n, err := base64.RawURLEncoding.Decode(b[:], []byte(s))
	if err != nil || n != liveCursorLen || b[0] != liveCursorVersion || b[1] > 1 {
		return LiveCursor{}, bad
	}
	c := LiveCursor{SnapshotDone: b[1] == 1, Filter: binary.BigEndian.Uint32(b[2:]), Watermark: getPos(b[6:]), Live: getPos(b[42:])}
	sec := int64(binary.BigEndian.Uint64(b[22:]))
	nsec := binary.BigEndian.Uint32(b[30:])
	id := int64(binary.BigEndian.Uint64(b[34:]))
	switch {
	case id < 0 || c.Watermark.ID < 0 || c.Live.ID < 0 || c.Live.Compare(c.Watermark) < 0:
		return LiveCursor{}, bad
	case id == 0 && (sec != 0 || nsec != 0):
		return LiveCursor{}, bad
	case id > 0:
		if nsec >= 1e9 || sec < minCursorUnix || sec > maxCursorUnix {
			return LiveCursor{}, bad
		}
		c.Snapshot = Cursor{UpdatedAt: time.Unix(sec, int64(nsec)).UTC(), ID: id}
	}
	if c.String() != s { // non-canonical base64
		return LiveCursor{}, bad
	}
	return c, nil
}

// IsLiveCursor reports whether s has the shape of a LiveCursor rather than a
// snapshot Cursor, so that one "cursor" parameter can carry either.
func IsLiveCursor(s string) bool { return len(s) == encodedLiveCursorLen }

// FilterHash fingerprints q's filters (not its position or limit), so that a
// LiveCursor can tell whether it belongs to a subscription with the same
// filter. Equal filters in any order hash alike.
func FilterHash(q Query) uint32 {
	q.After, q.Limit, q.AsOf = Cursor{}, 0, ChangePos{}
	h := fnv.New32a()
	h.Write([]byte(q.Values().Encode())) // Encode sorts by key; values keep ParseQuery's order
	return h.Sum32()
}
