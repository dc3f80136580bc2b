package app

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// AppendTicket appends the JSON encoding of t to dst and returns the extended
// slice. The bytes are exactly those of json.Marshal(t) — the same field
// order, the same escaping of <, >, &, U+2028 and U+2029, the same \ufffd for
// invalid UTF-8, the same RFC 3339 timestamps — and nothing is allocated
// beyond dst's growth.
//
// Like json.Marshal it fails on a timestamp whose year is outside [0, 9999];
// dst is then returned unchanged.
func AppendTicket(dst []byte, t *domain.Ticket) ([]byte, error) {
	dst, _, err := appendTicket(dst, t)
	return dst, err
}

// appendTicket is AppendTicket, also returning where the encoded team name
// ends in dst: it begins teamOffset(t.ID) bytes after the row's start.
func appendTicket(dst []byte, t *domain.Ticket) (_ []byte, teamEnd int, err error) {
	start := len(dst)
	// Each constant carries the quotes around the string values beside it.
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, t.ID, 10)
	dst = append(dst, `,"team":"`...)
	dst = appendEscaped(dst, t.Team)
	teamEnd = len(dst)
	dst = append(dst, `","subject":"`...)
	dst = appendEscaped(dst, t.Subject)
	dst = append(dst, `","status":"`...)
	dst = appendEscaped(dst, string(t.Status))
	dst = append(dst, `","priority":"`...)
	dst = appendEscaped(dst, string(t.Priority))
	dst = append(dst, `","requester":"`...)
	dst = appendEscaped(dst, t.Requester)
	dst = append(dst, `","assignee":"`...)
	dst = appendEscaped(dst, t.Assignee)
	switch {
	case t.Tags == nil:
		dst = append(dst, `","tags":null`...)
	case len(t.Tags) == 0:
		dst = append(dst, `","tags":[]`...)
	default:
		dst = append(dst, `","tags":["`...)
		for i, tag := range t.Tags {
			if i > 0 {
				dst = append(dst, `","`...)
			}
			dst = appendEscaped(dst, tag)
		}
		dst = append(dst, `"]`...)
	}
	dst = append(dst, `,"created_at":`...)
	if dst, err = appendTime(dst, t.CreatedAt); err != nil {
		return dst[:start], 0, fmt.Errorf("encode ticket %d created_at: %w", t.ID, err)
	}
	dst = append(dst, `,"updated_at":`...)
	if dst, err = appendTime(dst, t.UpdatedAt); err != nil {
		return dst[:start], 0, fmt.Errorf("encode ticket %d updated_at: %w", t.ID, err)
	}
	return append(dst, '}'), teamEnd, nil
}

// teamOffset is how far an encoded ticket's team name lies from the row's
// start: after {"id":<id>,"team":".
func teamOffset(id int64) int {
	n := len(`{"id":,"team":"`) + 1
	if id < 0 {
		n++
		id = -id
	}
	for ; id >= 10; id /= 10 {
		n++
	}
	return n
}

// The Unix seconds of the first and last instants whose year JSON accepts.
const (
	minJSONUnix = -62167219200 // 0000-01-01T00:00:00Z
	maxJSONUnix = 253402300799 // 9999-12-31T23:59:59Z
)

// errYearOutOfRange is json.Marshal's complaint about such a timestamp.
var errYearOutOfRange = errors.New("Time.MarshalJSON: year outside of range [0,9999]")

// digitPairs[n] holds the two ASCII digits of n (00 to 99) as a little-endian
// uint16, so that two digits are written with one store.
var digitPairs = func() (t [100]uint16) {
	for n := range t {
		t[n] = uint16('0'+n/10) | uint16('0'+n%10)<<8
	}
	return t
}()

// appendTime appends t as json.Marshal does: a quoted RFC 3339 timestamp with
// nanoseconds, trailing zeros trimmed. UTC times, the ones tickets carry, are
// formatted here directly, several times faster than time.AppendFormat; any
// other location takes time's own MarshalJSON.
func appendTime(dst []byte, t time.Time) ([]byte, error) {
	if t.Location() != time.UTC {
		b, err := t.MarshalJSON()
		if err != nil {
			return dst, err
		}
		return append(dst, b...), nil
	}
	sec := t.Unix()
	if sec < minJSONUnix || sec > maxJSONUnix {
		return dst, errYearOutOfRange
	}
	u := uint64(sec - minJSONUnix) // seconds since 0000-01-01T00:00:00Z
	days := uint32(u / 86400)
	rem := uint32(u - uint64(days)*86400)
	year, month, day := civilDate(days)
	hour, minute, second := rem/3600, rem/60%60, rem%60

	const maxLen = len(`"2006-01-02T15:04:05.999999999Z"`)
	n := len(dst)
	if cap(dst)-n < maxLen {
		dst = slices.Grow(dst, maxLen)
	}
	b := dst[n : n+maxLen : n+maxLen]
	le := binary.LittleEndian
	b[0] = '"'
	le.PutUint16(b[1:], digitPairs[year/100])
	le.PutUint16(b[3:], digitPairs[year%100])
	b[5] = '-'
	le.PutUint16(b[6:], digitPairs[month])
	b[8] = '-'
	le.PutUint16(b[9:], digitPairs[day])
	b[11] = 'T'
	le.PutUint16(b[12:], digitPairs[hour])
	b[14] = ':'
	le.PutUint16(b[15:], digitPairs[minute])
	b[17] = ':'
	le.PutUint16(b[18:], digitPairs[second])
	end := 20
	if ns := uint32(t.Nanosecond()); ns != 0 {
		b[20] = '.'
		digits := 9
		if ns%1000 == 0 { // microseconds, as PostgreSQL stores them
			ns /= 1000
			digits = 6
		}
		end = 21 + digits
		for i := end - 2; i > 21; i -= 2 { // two digits per division
			le.PutUint16(b[i:], digitPairs[ns%100])
			ns /= 100
		}
		if digits == 9 {
			b[21] = byte('0' + ns)
		} else {
			le.PutUint16(b[21:], digitPairs[ns])
		}
		for b[end-1] == '0' {
			end--
		}
	}
	b[end], b[end+1] = 'Z', '"'
	return dst[:n+end+2], nil
}

// civilDate converts a day count since 0000-01-01 to a proleptic Gregorian
// date, for years 0 to 9999, with the Euclidean affine functions of Neri and
// Schneider ("Euclidean affine functions and their application to calendar
// algorithms", 2022): three multiplications where the classic algorithm
// needs seven divisions.
func civilDate(days0 uint32) (year, month, day uint32) {
	n := days0 - 60 + 146097 // days since -0400-03-01: one era early, years starting in March
	n1 := 4*n + 3
	century := n1 / 146097
	nc := n1 % 146097 / 4 // day of century
	p2 := uint64(2939745) * uint64(4*nc+3)
	yoc := uint32(p2 >> 32)         // year of century
	doy := uint32(p2) / 2939745 / 4 // day of year from March 1
	n3 := 2141*doy + 197913
	month, day = n3>>16, n3&0xFFFF/2141+1 // month from March is 3..14
	year = 100*century + yoc - 400
	if doy >= 306 { // January and February belong to the next year
		year++
		month -= 12
	}
	return year, month, day
}
