package gormstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ticketstream/ticketstream/domain"
)

// The column types of ticketColumns, in order, that the fast decoder reads
// (in binary format, but for text, whose bytes are the same in both). The stream checks the server's row description against
// them once per query and falls back to pgx's Scan if they differ.
var pgColumnOIDs = [...]uint32{
	pgtype.Int8OID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID,
	pgtype.TextOID, pgtype.TextOID, pgtype.TextArrayOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID,
}

// The columns the text arena takes, by their place in ticketColumns.
const (
	colSubject   = 2
	colRequester = 5
)

// fastDecodable reports whether fields are ticketColumns in binary format.
func fastDecodable(fields []pgconn.FieldDescription) bool {
	if len(fields) != len(pgColumnOIDs) {
		return false
	}
	for i, f := range fields {
		if f.DataTypeOID != pgColumnOIDs[i] {
			return false
		}
		// text is the same bytes in either format (pgx asks for text);
		// the other types must come in binary.
		if f.DataTypeOID != pgtype.TextOID && f.Format != pgtype.BinaryFormatCode {
			return false
		}
	}
	return true
}

// pgEpochMicros is PostgreSQL's timestamp epoch, 2000-01-01 UTC, in Unix µs.
var pgEpochMicros = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

var errBadRow = errors.New("malformed row from PostgreSQL")

// rowDecoder turns binary rows into tickets. It interns the columns that
// repeat from row to row (team, status, priority, assignee, tags); the
// columns that do not (subject, requester) are cut from one string per
// page (see textArena). Not safe for concurrent use; one per stream.
type rowDecoder struct {
	team, status, priority, assignee, tags internTable
	text                                   textArena
}

// textArena hands out the subjects and requesters of one page as pieces of
// a single string: one allocation per page instead of two per row, which
// was most of a stream's allocations and the garbage collector's work.
// Strings stay immutable; a piece kept after its page keeps the page's
// text (a few hundred KB at most) alive with it.
type textArena struct {
	s   string
	off int
}

// fill makes the arena hold the subject and requester of every row of rb,
// in order.
func (a *textArena) fill(rb *rawBatch) {
	n := 0
	for i := range rb.rows {
		n += len(rb.value(i, colSubject)) + len(rb.value(i, colRequester))
	}
	var b strings.Builder
	b.Grow(n)
	for i := range rb.rows {
		b.Write(rb.value(i, colSubject))
		b.Write(rb.value(i, colRequester))
	}
	a.s, a.off = b.String(), 0
}

// fillRow makes the arena hold one row's subject and requester: one
// allocation for both, where the feed, which reads row by row, would
// otherwise make two.
func (a *textArena) fillRow(subject, requester []byte) {
	var b strings.Builder
	b.Grow(len(subject) + len(requester))
	b.Write(subject)
	b.Write(requester)
	a.s, a.off = b.String(), 0
}

// next returns the arena's next piece, which holds the bytes of v: the
// arena was filled from the same rows in the same order. A row it was not
// filled from (a decoder used alone) gets a string of its own.
func (a *textArena) next(v []byte) string {
	end := a.off + len(v)
	if end > len(a.s) || a.s[a.off:end] != string(v) {
		return string(v)
	}
	piece := a.s[a.off:end]
	a.off = end
	return piece
}

// internTable remembers up to internSlots strings of one column, found by a
// cheap hash of their bytes and compared byte for byte: no map hashing, and
// a column with few distinct values (a handful of statuses, a few dozen
// agents) allocates each of them once per stream.
type internTable [internSlots]string

const internSlots = 256

func (t *internTable) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > domain.MaxNameLen {
		return string(b)
	}
	h := (uint(len(b)) * 31) ^ uint(b[0])*7 ^ uint(b[len(b)-1])*13 ^ uint(b[len(b)/2])
	slot := &t[h%internSlots]
	if *slot == string(b) { // compared without allocating
		return *slot
	}
	s := string(b)
	*slot = s
	return s
}

// lastCursor reads only the (updated_at, id) of a row.
func lastCursor(vals [][]byte) (domain.Cursor, error) {
	if len(vals[0]) != 8 || len(vals[9]) != 8 {
		return domain.Cursor{}, errBadRow
	}
	return domain.Cursor{UpdatedAt: pgTime(vals[9]), ID: int64(binary.BigEndian.Uint64(vals[0]))}, nil
}

func pgTime(b []byte) time.Time {
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b)) + pgEpochMicros).UTC()
}

// pgTimeReadable reports whether b, a binary timestamptz, is a time pgTime
// gives without overflow: not ±infinity, and within int64 Unix µs. Others
// are left to pgx, whose error names them.
func pgTimeReadable(b []byte) bool {
	v := int64(binary.BigEndian.Uint64(b))
	return v != math.MinInt64 && v <= math.MaxInt64-pgEpochMicros
}

// decode fills t from one binary row of ticketColumns.
func (d *rowDecoder) decode(vals [][]byte, t *domain.Ticket) error {
	if len(vals[0]) != 8 || len(vals[8]) != 8 || len(vals[9]) != 8 || !pgTimeReadable(vals[8]) || !pgTimeReadable(vals[9]) {
		return errBadRow
	}
	t.ID = int64(binary.BigEndian.Uint64(vals[0]))
	t.Team = d.team.intern(vals[1])
	t.Subject = d.text.next(vals[colSubject])
	t.Status = domain.Status(d.status.intern(vals[3]))
	t.Priority = domain.Priority(d.priority.intern(vals[4]))
	t.Requester = d.text.next(vals[colRequester])
	t.Assignee = d.assignee.intern(vals[6])
	tags, err := d.decodeTextArray(vals[7], t.Tags[:0])
	if err != nil {
		return fmt.Errorf("ticket %d tags: %w", t.ID, err)
	}
	t.Tags = tags
	t.CreatedAt, t.UpdatedAt = pgTime(vals[8]), pgTime(vals[9])
	return nil
}

// decodeTextArray reads PostgreSQL's binary array format for a
// one-dimensional text[] without NULLs: ndim, has-null flag, element type,
// then per dimension (length, lower bound), then per element (length, bytes).
func (d *rowDecoder) decodeTextArray(b []byte, dst []string) ([]string, error) {
	if len(b) < 12 {
		return nil, errBadRow
	}
	ndim := binary.BigEndian.Uint32(b)
	if ndim == 0 {
		return make([]string, 0), nil
	}
	if ndim != 1 || len(b) < 20 || binary.BigEndian.Uint32(b[4:]) != 0 {
		return nil, fmt.Errorf("%w: want a one-dimensional text[] without NULLs", errBadRow)
	}
	n := int(binary.BigEndian.Uint32(b[12:]))
	if n < 0 || n > (len(b)-20)/4 {
		return nil, errBadRow
	}
	if cap(dst) < n || dst == nil {
		dst = make([]string, 0, n) // an empty array is [], not null
	}
	off := 20
	for range n {
		if off+4 > len(b) {
			return nil, errBadRow
		}
		l := int(int32(binary.BigEndian.Uint32(b[off:])))
		off += 4
		if l < 0 || off+l > len(b) {
			return nil, errBadRow
		}
		dst = append(dst, d.tags.intern(b[off:off+l]))
		off += l
	}
	if off != len(b) {
		return nil, fmt.Errorf("%w: bytes after the last tag", errBadRow)
	}
	return dst, nil
}

// rawBatch holds one batch of rows as the server sent them, copied out of
// pgx's read buffer so that the connection can move on to the next query
// before they are decoded. Its buffers are reused from batch to batch.
type rawBatch struct {
	data   []byte
	ends   []int32 // end offset in data of each value; a row is 10 values
	rows   int
	fields []pgconn.FieldDescription // the columns' types and formats
	fast   bool                      // the fast decoder reads these columns
}

func (rb *rawBatch) reset() {
	rb.data, rb.ends, rb.rows = rb.data[:0], rb.ends[:0], 0
}

// add copies one row; every ticket column is NOT NULL, so a NULL is refused.
func (rb *rawBatch) add(vals [][]byte) error {
	for _, v := range vals {
		if v == nil {
			return fmt.Errorf("%w: NULL in a NOT NULL column", errBadRow)
		}
		rb.data = append(rb.data, v...)
		rb.ends = append(rb.ends, int32(len(rb.data)))
	}
	rb.rows++
	return nil
}

// value returns column c of row i, pointing into rb.data.
func (rb *rawBatch) value(i, c int) []byte {
	k := i*len(pgColumnOIDs) + c
	start := int32(0)
	if k > 0 {
		start = rb.ends[k-1]
	}
	return rb.data[start:rb.ends[k]:rb.ends[k]]
}

// row returns row i's values in vals (len 10), pointing into rb.data.
func (rb *rawBatch) row(i int, vals [][]byte) {
	start := int32(0)
	base := i * len(vals)
	if base > 0 {
		start = rb.ends[base-1]
	}
	for c := range vals {
		end := rb.ends[base+c]
		vals[c] = rb.data[start:end:end]
		start = end
	}
}
