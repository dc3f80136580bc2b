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
// Clients see a Cursor only as the opaque string from String; they must not
// build or parse one themselves.
type Cursor struct {
	UpdatedAt time.Time
	ID        int64
}

// cursorVersion prefixes the encoded form so that it can change later without
// old cursors being misread.
const cursorVersion = 1

// cursorLen is the size of the binary form: version, seconds, nanoseconds, id.
const cursorLen = 1 + 8 + 4 + 8

// encodedCursorLen is the length of the string form.
var encodedCursorLen = base64.RawURLEncoding.EncodedLen(cursorLen)

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

// String returns the opaque, URL-safe form of c; the zero Cursor is "".
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	var b [cursorLen]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], uint64(c.UpdatedAt.Unix()))
	binary.BigEndian.PutUint32(b[9:], uint32(c.UpdatedAt.Nanosecond()))
	binary.BigEndian.PutUint64(b[13:], uint64(c.ID))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// AppendText appends the String form of c to dst without allocating.
func (c Cursor) AppendText(dst []byte) []byte {
	if c.IsZero() {
		return dst
	}
	var b [cursorLen]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], uint64(c.UpdatedAt.Unix()))
	binary.BigEndian.PutUint32(b[9:], uint32(c.UpdatedAt.Nanosecond()))
	binary.BigEndian.PutUint64(b[13:], uint64(c.ID))
	return base64.RawURLEncoding.AppendEncode(dst, b[:])
}

// ParseCursor parses the String form of a Cursor. The empty string is the
// zero Cursor. Anything else that String did not produce is an EInvalid
// error naming the "cursor" parameter.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	if len(s) != encodedCursorLen {
		return Cursor{}, Invalidf("cursor", "malformed cursor")
	}
	var b [cursorLen]byte
	n, err := base64.RawURLEncoding.Decode(b[:], []byte(s))
	if err != nil || n != cursorLen || b[0] != cursorVersion {
		return Cursor{}, Invalidf("cursor", "malformed cursor")
	}
	sec := int64(binary.BigEndian.Uint64(b[1:]))
	nsec := binary.BigEndian.Uint32(b[9:])
	id := int64(binary.BigEndian.Uint64(b[13:]))
	if nsec >= 1e9 || id <= 0 || sec < minCursorUnix || sec > maxCursorUnix {
		return Cursor{}, Invalidf("cursor", "malformed cursor")
	}
	c := Cursor{UpdatedAt: time.Unix(sec, int64(nsec)).UTC(), ID: id}
	if c.String() != s { // non-canonical base64 (stray low bits)
		return Cursor{}, Invalidf("cursor", "malformed cursor")
	}
	return c, nil
}

// The range of timestamps a cursor may carry: years 1 to 9999, as JSON allows.
var (
	minCursorUnix = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxCursorUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)
