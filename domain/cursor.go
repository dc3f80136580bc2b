package domain

import (
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Cursor is a position in the stable order of tickets, (updated_at, id)
// ascending. A stream that resumes from a Cursor gets exactly the tickets
// after it. The zero Cursor is the position before every ticket.
//
// Clients see a Cursor only as the opaque, sealed string of a CursorSealer;
// they cannot build or alter one.
type Cursor struct {
	UpdatedAt time.Time
	ID        int64
}

// The sealed form of a Cursor: version, seconds, nanoseconds, id, MAC.
// Version 1 was the same without a MAC; it is recognised only to be refused
// with a clear message.
const (
	cursorVersion    = 2
	cursorLen        = 1 + cursorBodyLen + macLen
	cursorBodyLen    = 8 + 4 + 8
	oldCursorVersion = 1
	oldCursorLen     = 1 + cursorBodyLen
)

// The lengths of the string forms.
var (
	encodedCursorLen    = base64.RawURLEncoding.EncodedLen(cursorLen)
	encodedOldCursorLen = base64.RawURLEncoding.EncodedLen(oldCursorLen)
)

// IsZero reports whether c is the zero Cursor (the start of the order).
func (c Cursor) IsZero() bool { return c.ID == 0 && c.UpdatedAt.IsZero() }

// Compare returns -1, 0 or +1 as c sorts before, with or after d.
func (c Cursor) Compare(d Cursor) int {
	if r := c.UpdatedAt.Compare(d.UpdatedAt); r != 0 {
		return r
	}
	switch {
	case c.ID < d.ID:
		return -1
	case c.ID > d.ID:
		return 1
	}
	return 0
}

// Before reports whether c sorts strictly before the ticket t, that is,
// whether a stream resumed at c includes t.
func (c Cursor) Before(t *Ticket) bool { return c.Compare(t.Cursor()) < 0 }

// putCursor writes c's binary body (cursorBodyLen bytes) into b; the zero
// Cursor is all zeros.
func putCursor(b []byte, c Cursor) {
	var sec int64
	var nsec uint32
	if !c.IsZero() {
		sec, nsec = c.UpdatedAt.Unix(), uint32(c.UpdatedAt.Nanosecond())
	}
	binary.BigEndian.PutUint64(b, uint64(sec))
	binary.BigEndian.PutUint32(b[8:], nsec)
	binary.BigEndian.PutUint64(b[12:], uint64(c.ID))
}

// getCursor reads what putCursor wrote, refusing what it never writes.
func getCursor(b []byte) (Cursor, bool) {
	sec := int64(binary.BigEndian.Uint64(b))
	nsec := binary.BigEndian.Uint32(b[8:])
	id := int64(binary.BigEndian.Uint64(b[12:]))
	switch {
	case id == 0 && sec == 0 && nsec == 0:
		return Cursor{}, true
	case id <= 0 || nsec >= 1e9 || sec < minCursorUnix || sec > maxCursorUnix:
		return Cursor{}, false
	}
	return Cursor{UpdatedAt: time.Unix(sec, int64(nsec)).UTC(), ID: id}, true
}

// The range of timestamps a cursor may carry: years 1 to 9999, as JSON allows.
var (
	minCursorUnix = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxCursorUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)
