package domain

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"slices"
)

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
	// Held is the digest of what the dashboard holds once it has applied
	// the cursor's message, when HeldKnown (see HeldDigest): a resume that
	// claims tickets whose digest is Held is believed.
	Held      HeldDigest
	HeldKnown bool
	// HeldCount is how many tickets the dashboard holds then, when
	// HeldKnown: a resume that announces another number cannot match Held,
	// so its claim is not kept (it would cost memory for nothing: a
	// client could announce millions whatever its filter).
	HeldCount uint32
}

// The sealed form of a LiveCursor: version, flags, a nonce (see
// CursorSealer.AppendLiveCursor), filter, cluster,
// snapshot cursor, snapshot start, rows read, the held digest when flag 2
// says there is one, then the watermark and the live position, each as a
// ChangePos (see appendPos), and the MAC; what lies between the version and
// the MAC is encrypted (CursorSealer.AppendLiveCursor). Older versions are recognised
// only to be refused (the client resyncs): version 2 had no cluster and no
// MAC, version 3 no start and no count of rows read, version 4 positions
// that were one transaction number and id, version 5 was not encrypted,
// version 6 had no nonce: the same cursor sealed to the same text, so that
// a client could tell when the server's position moved — when any
// transaction anywhere on the database server ran.
const (
	liveCursorVersion   = 7
	v6LiveCursorVersion = 6
	v5LiveCursorVersion = 5
	liveNonceLen        = 8
	liveCursorFixed     = 1 + 1 + liveNonceLen + 4 + 8 + cursorBodyLen + cursorBodyLen + 4
	// maxPosLen is the longest encoded ChangePos: Xmax, Seq, ID and the
	// count of pending transactions (up to cursorPendingBytes, two bytes),
	// then each pending one, as varints.
	maxPosLen        = 3*binary.MaxVarintLen64 + 2 + cursorPendingBytes
	minLiveCursorLen = liveCursorFixed + 2*3 + macLen
	maxLiveCursorLen = liveCursorFixed + heldDigestLen + 4 + 2*maxPosLen + macLen
	heldDigestLen    = 16

	oldLiveCursorVersion  = 2
	oldLiveCursorLen      = 1 + 1 + 4 + 16 + cursorBodyLen + 16
	prevLiveCursorVersion = 3
	prevLiveCursorLen     = 1 + 1 + 4 + 8 + 16 + cursorBodyLen + 16 + macLen
	v4LiveCursorVersion   = 4
	v4LiveCursorLen       = 1 + 1 + 4 + 8 + 16 + cursorBodyLen + 16 + cursorBodyLen + 4 + macLen
)

// CursorPendingMax is how many pending transactions a live cursor always
// records of each position, however far apart their numbers are. It
// records more — as many as fit in cursorPendingBytes — when they lie
// closer together, as transactions open at once on a server do: each is
// written as its distance from the next, in as few bytes as that takes
// (one below 128, two below 16,384, three below two million). A position
// with more than fit is lowered to the transactions below the first it
// cannot record (ChangePos.Below): a client that resumes from it may be
// sent again what it had, never miss anything.
const CursorPendingMax = 15

// cursorPendingBytes is the room a live cursor has for each position's
// pending transactions: CursorPendingMax of the largest distances, and
// what is left of version 6's length (sealedLiveCursorLen) beside the
// nonce and the held count.
const cursorPendingBytes = 153

// sealedLiveCursorLen is the length of every sealed live cursor, version
// 6's (630 characters): a server of the release before takes a cursor of
// this release for one of an unknown version, and the dashboard resyncs
// once, where a longer text would be no cursor at all to it, and refused.
const sealedLiveCursorLen = 472

var (
	encodedOldLiveCursorLen  = base64.RawURLEncoding.EncodedLen(oldLiveCursorLen)
	encodedPrevLiveCursorLen = base64.RawURLEncoding.EncodedLen(prevLiveCursorLen)
	encodedV4LiveCursorLen   = base64.RawURLEncoding.EncodedLen(v4LiveCursorLen)
	encodedMinLiveCursorLen  = base64.RawURLEncoding.EncodedLen(minLiveCursorLen)
	encodedMaxLiveCursorLen  = base64.RawURLEncoding.EncodedLen(maxLiveCursorLen)
)

// capped returns c with both positions small enough to seal: lowered, when
// either has too many pending transactions, to the transactions below the
// same bound, so that the live position still includes the watermark.
func (c LiveCursor) capped() LiveCursor {
	wFits, wBound := pendingFit(c.Watermark)
	lFits, lBound := pendingFit(c.Live)
	if wFits && lFits {
		return c
	}
	// Below a lower bound a position's record is a prefix of the one that
	// fitted, each distance no longer: it fits too.
	bound := uint64(1<<64 - 1)
	if !wFits {
		bound = wBound
	}
	if !lFits {
		bound = min(bound, lBound)
	}
	c.Watermark, c.Live = c.Watermark.Below(bound), c.Live.Below(bound)
	return c
}

// UnrecordedPending returns how many of p's pending transactions a live
// cursor sealed at p leaves out, 0 when it records every one (see
// CursorPendingMax): a dashboard resuming from such a cursor is sent again
// what it had since the lowest left out began.
func (p ChangePos) UnrecordedPending() int {
	fits, bound := pendingFit(p)
	if fits {
		return 0
	}
	n, _ := slices.BinarySearch(p.Pending, bound)
	return len(p.Pending) - n
}

// pendingFit reports whether p's pending transactions fit in a cursor
// (cursorPendingBytes, as appendPos writes them) and, when they do not,
// the bound below which the most of them do: the lowest transaction left
// out.
func pendingFit(p ChangePos) (fits bool, bound uint64) {
	if pendingBytes(p.Xmax, p.Pending) <= cursorPendingBytes {
		return true, 0
	}
	// Keeping the k lowest, bound at the (k+1)th, takes the distances
	// between the first k+1.
	size := 0
	for k := 1; k < len(p.Pending); k++ {
		if size += uvarintLen(p.Pending[k] - p.Pending[k-1]); size > cursorPendingBytes {
			return false, p.Pending[k-1]
		}
	}
	return false, p.Pending[len(p.Pending)-1]
}

// pendingBytes is the length appendPos gives pending below xmax: each
// one's distance from the one above it, xmax for the highest.
func pendingBytes(xmax uint64, pending []uint64) int {
	n := 0
	for i := range pending {
		above := xmax
		if i+1 < len(pending) {
			above = pending[i+1]
		}
		n += uvarintLen(above - pending[i])
	}
	return n
}

// uvarintLen is the length of x as a uvarint.
func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// appendTo appends c's binary form, without its MAC, to b; c must be capped.
func (c LiveCursor) appendTo(b []byte) []byte {
	var flags byte
	if c.SnapshotDone {
		flags = 1
	}
	if c.HeldKnown {
		flags |= 2
	}
	b = append(b, liveCursorVersion, flags)
	b = append(b, make([]byte, liveNonceLen)...) // the sealer's to fill
	b = binary.BigEndian.AppendUint32(b, c.Filter)
	b = binary.BigEndian.AppendUint64(b, c.Cluster)
	var cur [cursorBodyLen]byte
	putCursor(cur[:], c.Snapshot)
	b = append(b, cur[:]...)
	putCursor(cur[:], c.Start)
	b = append(b, cur[:]...)
	b = binary.BigEndian.AppendUint32(b, c.Read)
	if c.HeldKnown {
		b = binary.BigEndian.AppendUint64(b, c.Held[0])
		b = binary.BigEndian.AppendUint64(b, c.Held[1])
		b = binary.BigEndian.AppendUint32(b, c.HeldCount)
	}
	b = appendPos(b, c.Watermark)
	return appendPos(b, c.Live)
}

// appendPos appends p as varints: Xmax; Xmax-Seq+1, or 0 without Seq; ID
// (only with Seq); the count of pending transactions; each one's distance
// below the one before, starting from Xmax.
func appendPos(b []byte, p ChangePos) []byte {
	b = binary.AppendUvarint(b, p.Xmax)
	if p.Seq == 0 {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, p.Xmax-p.Seq+1)
		b = binary.AppendVarint(b, p.ID)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Pending)))
	prev := p.Xmax
	for i := len(p.Pending) - 1; i >= 0; i-- {
		b = binary.AppendUvarint(b, prev-p.Pending[i])
		prev = p.Pending[i]
	}
	return b
}

// getPos reads what appendPos wrote from the front of b and returns the
// rest, refusing what it never writes.
func getPos(b []byte) (ChangePos, []byte, bool) {
	var p ChangePos
	var ok bool
	if p.Xmax, b, ok = uvarint(b); !ok {
		return ChangePos{}, nil, false
	}
	seq, b, ok := uvarint(b)
	if !ok || seq > p.Xmax {
		return ChangePos{}, nil, false
	}
	if seq > 0 {
		p.Seq = p.Xmax - seq + 1
		id, n := binary.Varint(b)
		if n <= 0 {
			return ChangePos{}, nil, false
		}
		p.ID, b = id, b[n:]
	}
	count, b, ok := uvarint(b)
	if !ok || count > cursorPendingBytes { // each takes a byte or more
		return ChangePos{}, nil, false
	}
	start := len(b)
	if count > 0 {
		p.Pending = make([]uint64, count)
		prev := p.Xmax
		for i := int(count) - 1; i >= 0; i-- {
			var d uint64
			if d, b, ok = uvarint(b); !ok || d == 0 || d > prev {
				return ChangePos{}, nil, false
			}
			prev -= d
			p.Pending[i] = prev
		}
	}
	if start-len(b) > cursorPendingBytes || !p.valid() {
		return ChangePos{}, nil, false
	}
	return p, b, true
}

// uvarint reads one canonical uvarint from the front of b.
func uvarint(b []byte) (uint64, []byte, bool) {
	x, n := binary.Uvarint(b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, x)) {
		return 0, nil, false
	}
	return x, b[n:], true
}

// getLiveCursor reads what appendTo wrote (b without its MAC), refusing
// what it never writes.
func getLiveCursor(b []byte) (LiveCursor, bool) {
	if len(b) < liveCursorFixed || b[0] != liveCursorVersion || b[1] > 3 {
		return LiveCursor{}, false
	}
	f := b[2+liveNonceLen:] // the nonce only varies the sealed text
	c := LiveCursor{SnapshotDone: b[1]&1 != 0, HeldKnown: b[1]&2 != 0, Filter: binary.BigEndian.Uint32(f), Cluster: binary.BigEndian.Uint64(f[4:])}
	snap, ok := getCursor(f[12:])
	start, okStart := getCursor(f[12+cursorBodyLen:])
	if !ok || !okStart || snap.Compare(start) < 0 {
		return LiveCursor{}, false
	}
	c.Snapshot, c.Start = snap, start
	c.Read = binary.BigEndian.Uint32(f[12+2*cursorBodyLen:])
	rest := b[liveCursorFixed:]
	if c.HeldKnown {
		if len(rest) < heldDigestLen+4 {
			return LiveCursor{}, false
		}
		c.Held = HeldDigest{binary.BigEndian.Uint64(rest), binary.BigEndian.Uint64(rest[8:])}
		c.HeldCount = binary.BigEndian.Uint32(rest[heldDigestLen:])
		rest = rest[heldDigestLen+4:]
	}
	if c.Watermark, rest, ok = getPos(rest); !ok {
		return LiveCursor{}, false
	}
	if c.Live, rest, ok = getPos(rest); !ok {
		return LiveCursor{}, false
	}
	for _, pad := range rest { // a sealed cursor is padded with zeros
		if pad != 0 {
			return LiveCursor{}, false
		}
	}
	return c, true
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
		Search:     q.Search,
	}
	h := fnv.New32a()
	h.Write([]byte(canon.Values().Encode())) // Encode sorts by key
	return h.Sum32()
}

// canonical returns s sorted, without duplicates, as a new slice.
func canonical[S ~[]E, E cmp.Ordered](s S) S {
	return S(slices.Compact(slices.Sorted(slices.Values(s))))
}
