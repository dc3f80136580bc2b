package domain

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
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

// String formats p for people and logs as seq:id, as in 5002:0.
func (p ChangePos) String() string {
	return strconv.FormatUint(p.Seq, 10) + ":" + strconv.FormatInt(p.ID, 10)
}

// LogValue logs p as its String, not as a struct.
func (p ChangePos) LogValue() slog.Value { return slog.StringValue(p.String()) }

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
//
// Clients see a LiveCursor only as the sealed string of a CursorSealer.
type LiveCursor struct {
	// Filter is FilterHash of the subscription's query: a cursor resumes only
	// the subscription it came from.
	Filter uint32
	// Cluster identifies the database the positions belong to (see
	// ports.ChangeFeed's Identity): positions of another database — a
	// restored copy, a promoted standby of another cluster — mean nothing.
	Cluster uint64
	// Watermark splits snapshot from live: see above.
	Watermark ChangePos
	// Snapshot is the position of the last snapshot row sent.
	Snapshot Cursor
	// SnapshotDone says the whole snapshot was sent.
	SnapshotDone bool
	// Live is the position of the last live change sent (at least Watermark).
	Live ChangePos
	// Start is where the snapshot began (the query's own cursor; zero for
	// the first row): the dashboard holds no row before it unless the row
	// changed after the watermark.
	Start Cursor
	// Read counts the snapshot rows read so far — written, or left out for
	// a change already sent — so that the rest of a snapshot with a limit
	// reads only what the limit leaves.
	Read uint32
}

// The sealed form of a LiveCursor: version, flags, filter, cluster,
// watermark, snapshot cursor, live position, snapshot start, rows read,
// MAC. Older versions are recognised only to be refused (the client
// resyncs): version 2 had no cluster and no MAC, version 3 no start and no
// count of rows read.
const (
	liveCursorVersion     = 4
	liveCursorLen         = 1 + 1 + 4 + 8 + 16 + cursorBodyLen + 16 + cursorBodyLen + 4 + macLen
	oldLiveCursorVersion  = 2
	oldLiveCursorLen      = 1 + 1 + 4 + 16 + cursorBodyLen + 16
	prevLiveCursorVersion = 3
	prevLiveCursorLen     = 1 + 1 + 4 + 8 + 16 + cursorBodyLen + 16 + macLen
)

var (
	encodedLiveCursorLen     = base64.RawURLEncoding.EncodedLen(liveCursorLen)
	encodedOldLiveCursorLen  = base64.RawURLEncoding.EncodedLen(oldLiveCursorLen)
	encodedPrevLiveCursorLen = base64.RawURLEncoding.EncodedLen(prevLiveCursorLen)
)

// put writes c's binary form, MAC left zero, into b.
func (c LiveCursor) put(b *[liveCursorLen]byte) {
	b[0] = liveCursorVersion
	if c.SnapshotDone {
		b[1] = 1
	}
	binary.BigEndian.PutUint32(b[2:], c.Filter)
	binary.BigEndian.PutUint64(b[6:], c.Cluster)
	putPos(b[14:], c.Watermark)
	putCursor(b[30:], c.Snapshot)
	putPos(b[50:], c.Live)
	putCursor(b[66:], c.Start)
	binary.BigEndian.PutUint32(b[86:], c.Read)
}

// getLiveCursor reads what put wrote, refusing what it never writes.
func getLiveCursor(b []byte) (LiveCursor, bool) {
	if b[1] > 1 {
		return LiveCursor{}, false
	}
	c := LiveCursor{SnapshotDone: b[1] == 1, Filter: binary.BigEndian.Uint32(b[2:]), Cluster: binary.BigEndian.Uint64(b[6:]),
		Watermark: getPos(b[14:]), Live: getPos(b[50:])}
	snap, ok := getCursor(b[30:])
	start, okStart := getCursor(b[66:])
	if !ok || !okStart || c.Watermark.ID < 0 || c.Live.ID < 0 || c.Live.Compare(c.Watermark) < 0 || snap.Compare(start) < 0 {
		return LiveCursor{}, false
	}
	c.Snapshot, c.Start, c.Read = snap, start, binary.BigEndian.Uint32(b[86:])
	return c, true
}

func putPos(b []byte, p ChangePos) {
	binary.BigEndian.PutUint64(b, p.Seq)
	binary.BigEndian.PutUint64(b[8:], uint64(p.ID))
}

func getPos(b []byte) ChangePos {
	return ChangePos{Seq: binary.BigEndian.Uint64(b), ID: int64(binary.BigEndian.Uint64(b[8:]))}
}

// FilterHash fingerprints q's filters (not its position or limit), so that a
// LiveCursor can tell whether it belongs to a subscription with the same
// filter. It hashes a canonical form — each filter's values sorted, without
// duplicates — so that equal filters hash alike whatever the order of their
// parameters and values (status=open,pending and status=pending,open).
func FilterHash(q Query) uint32 {
	canon := Query{
		Statuses:   canonical(q.Statuses),
		Priorities: canonical(q.Priorities),
		Teams:      canonical(q.Teams),
		Assignees:  canonical(q.Assignees),
	}
	h := fnv.New32a()
	h.Write([]byte(canon.Values().Encode())) // Encode sorts by key
	return h.Sum32()
}

// canonical returns s sorted, without duplicates, as a new slice.
func canonical[S ~[]E, E cmp.Ordered](s S) S {
	return S(slices.Compact(slices.Sorted(slices.Values(s))))
}
