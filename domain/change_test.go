package domain

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"maps"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func newTestSealer(t testing.TB, key string) *CursorSealer {
	t.Helper()
	s, err := NewCursorSealer([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLiveCursor_RoundTripsAndRefusesDamage(t *testing.T) {
	t.Parallel()
	sealer := newTestSealer(t, "test key, sixteen bytes or more")
	cursors := []LiveCursor{
		{},
		{Filter: 1, Cluster: 7714351331484346489, Watermark: ChangePos{Xmax: 10}, Live: ChangePos{Xmax: 10}},
		{Filter: 0xdeadbeef, Cluster: 1, Watermark: ChangePos{Xmax: 1 << 40, Seq: 1 << 40, ID: 7}, Snapshot: Cursor{UpdatedAt: time.Date(2025, 3, 4, 5, 6, 7, 8000, time.UTC), ID: 42}, Live: ChangePos{Xmax: 1 << 41, Seq: 1 << 41, ID: 1}},
		{SnapshotDone: true, Cluster: 1<<64 - 1, Snapshot: Cursor{UpdatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ID: 1}, Live: ChangePos{Xmax: 3, Seq: 3, ID: 9}},
		{Filter: 3, Cluster: 2, Watermark: ChangePos{Xmax: 4}, Snapshot: Cursor{UpdatedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), ID: 9}, Live: ChangePos{Xmax: 4},
			Start: Cursor{UpdatedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), ID: 2}, Read: 1<<32 - 1},
		// Pending transactions, one read in part among them, a negative id.
		{Filter: 4, Cluster: 9, Watermark: ChangePos{Xmax: 1000, Pending: []uint64{900, 950}}, Live: ChangePos{Xmax: 1200, Pending: []uint64{950, 1100}, Seq: 990, ID: -4}},
		{Filter: 5, Cluster: 9, Watermark: ChangePos{Xmax: 1<<64 - 1, Pending: []uint64{1, 1<<64 - 2}}, Live: ChangePos{Xmax: 1<<64 - 1, Pending: []uint64{1, 1<<64 - 2}, Seq: 1<<64 - 1, ID: 1<<63 - 1}},
		// The digest of what the dashboard holds, any value, zero too.
		{Filter: 6, Cluster: 9, SnapshotDone: true, Held: HeldDigest{0xfeedface, 1<<64 - 1}, HeldKnown: true, Watermark: ChangePos{Xmax: 7, Pending: []uint64{3}}, Live: ChangePos{Xmax: 8, Seq: 7, ID: 2}},
		{Filter: 7, HeldKnown: true, Live: ChangePos{Xmax: 1}},
	}
	for _, c := range cursors {
		s := sealer.LiveCursorString(c)
		if !IsLiveCursor(s) || !IsCursorShaped(s) {
			t.Fatalf("IsLiveCursor(%q) = false", s)
		}
		got, err := sealer.OpenLiveCursor(s)
		if err != nil || !sameLiveCursor(got, c) {
			t.Fatalf("OpenLiveCursor(%q) = %+v, %v; want %+v", s, got, err, c)
		}
	}
	good := sealer.LiveCursorString(cursors[2])
	bad := []string{
		"", "x", sealer.CursorString(Cursor{UpdatedAt: time.Now(), ID: 1}), // a snapshot cursor
		good[:len(good)-1] + "!", "C" + good[1:], // bad alphabet, wrong version
		newTestSealer(t, "another key, sixteen bytes long").LiveCursorString(cursors[2]),
		oldLiveCursor(cursors[2]),
		prevLiveCursor(t, cursors[2]),
		v4LiveCursor(t, cursors[2]),
		sealer.LiveCursorString(LiveCursor{Snapshot: Cursor{UpdatedAt: time.Unix(5, 0).UTC(), ID: 1}, Start: Cursor{UpdatedAt: time.Unix(6, 0).UTC(), ID: 1}}), // snapshot before its start
	}
	for _, s := range bad {
		if _, err := sealer.OpenLiveCursor(s); ErrorCode(err) != EInvalid {
			t.Errorf("OpenLiveCursor(%q) = %v, want EInvalid", s, err)
		}
	}
}

// sameLiveCursor compares cursors field by field: positions hold slices.
func sameLiveCursor(a, b LiveCursor) bool {
	return a.Filter == b.Filter && a.Cluster == b.Cluster && a.Snapshot == b.Snapshot && a.SnapshotDone == b.SnapshotDone &&
		a.Start == b.Start && a.Read == b.Read && a.Watermark.Equal(b.Watermark) && a.Live.Equal(b.Live) &&
		a.HeldKnown == b.HeldKnown && a.Held == b.Held
}

// putOldPos writes a position as versions 2 to 4 did: transaction and id.
func putOldPos(b []byte, p ChangePos) {
	binary.BigEndian.PutUint64(b, p.Seq)
	binary.BigEndian.PutUint64(b[8:], uint64(p.ID))
}

// v4LiveCursor encodes c as version 4, sealed, with positions that were one
// transaction number and id: a client may hold one from before an upgrade.
func v4LiveCursor(t *testing.T, c LiveCursor) string {
	var b [v4LiveCursorLen]byte
	b[0] = v4LiveCursorVersion
	binary.BigEndian.PutUint32(b[2:], c.Filter)
	binary.BigEndian.PutUint64(b[6:], c.Cluster)
	putOldPos(b[14:], c.Watermark)
	putCursor(b[30:], c.Snapshot)
	putOldPos(b[50:], c.Live)
	putCursor(b[66:], c.Start)
	s := base64.RawURLEncoding.EncodeToString(b[:])
	if !IsLiveCursor(s) || !IsCursorShaped(s) {
		t.Fatalf("a version 4 cursor is not taken for a live cursor: %q", s)
	}
	return s
}

// prevLiveCursor encodes c as version 3, sealed, without a start and a
// count of rows read: a client may hold one from before an upgrade.
func prevLiveCursor(t *testing.T, c LiveCursor) string {
	var b [prevLiveCursorLen]byte
	b[0] = prevLiveCursorVersion
	binary.BigEndian.PutUint32(b[2:], c.Filter)
	binary.BigEndian.PutUint64(b[6:], c.Cluster)
	putOldPos(b[14:], c.Watermark)
	putCursor(b[30:], c.Snapshot)
	putOldPos(b[50:], c.Live)
	s := base64.RawURLEncoding.EncodeToString(b[:])
	if !IsLiveCursor(s) || !IsCursorShaped(s) {
		t.Fatalf("a version 3 cursor is not taken for a live cursor: %q", s)
	}
	return s
}

// oldLiveCursor encodes c as the version before cursors were sealed:
// without cluster and MAC.
func oldLiveCursor(c LiveCursor) string {
	var b [oldLiveCursorLen]byte
	b[0] = oldLiveCursorVersion
	binary.BigEndian.PutUint32(b[2:], c.Filter)
	putOldPos(b[6:], c.Watermark)
	putCursor(b[22:], c.Snapshot)
	putOldPos(b[42:], c.Live)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func TestFilterHash_IgnoresPositionAndOrder(t *testing.T) {
	t.Parallel()
	a := Query{Statuses: []Status{StatusOpen}, Teams: []string{"billing"}}
	b := Query{Teams: []string{"billing"}, Statuses: []Status{StatusOpen}, Limit: 10, AsOf: ChangePos{Xmax: 3}}
	if FilterHash(a) != FilterHash(b) {
		t.Fatal("the same filter hashed differently")
	}
	if FilterHash(a) == FilterHash(Query{Statuses: []Status{StatusPending}, Teams: []string{"billing"}}) {
		t.Fatal("different filters hashed alike")
	}
}

// A filter's identity is its set of values: the order a client lists them
// in, and repeats, must not make a resume look like another subscription.
func TestFilterHash_IsCanonical(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		same bool
	}{
		{"status=open,pending", "status=pending,open", true},
		{"status=open&status=pending", "status=pending,open", true},
		{"status=open,pending,open", "status=pending,open", true},
		{"team=b,a&priority=high,low", "priority=low,high&team=a,b", true},
		{"assignee=,ana", "assignee=ana&assignee=", true},
		{"team=a,b&cursor=", "team=b,a&limit=5", true},
		{"status=open", "status=open,pending", false},
		{"team=a", "assignee=a", false},
		{"assignee=ana", "assignee=ana,", false},
		{"", "status=open", false},
	}
	for _, tc := range tests {
		qa, qb := mustQuery(t, tc.a), mustQuery(t, tc.b)
		if got := FilterHash(qa) == FilterHash(qb); got != tc.same {
			t.Errorf("FilterHash(%q) == FilterHash(%q) is %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
	// Query values built in code may repeat or come in any order too.
	dup := Query{Statuses: []Status{StatusPending, StatusOpen, StatusPending}}
	if FilterHash(dup) != FilterHash(mustQuery(t, "status=open,pending")) {
		t.Error("duplicates in a Query built in code changed its hash")
	}
	if len(dup.Statuses) != 3 || dup.Statuses[0] != StatusPending {
		t.Error("FilterHash reordered the query it was given")
	}
}

func mustQuery(t testing.TB, raw string) Query {
	t.Helper()
	v, err := ParseQueryString(raw)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseQuery(v, nil)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", raw, err)
	}
	return q
}

// FuzzFilterHash checks that a filter's hash does not depend on the order
// of its values: reversing every filter's list hashes alike.
func FuzzFilterHash(f *testing.F) {
	f.Add("status=open,pending")
	f.Add("status=pending,open,pending&team=b,a&assignee=,x")
	f.Add("priority=urgent&priority=low&team=%C3%A9quipe")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := ParseQueryString(raw)
		if err != nil {
			return
		}
		v.Del(ParamCursor)
		q, err := ParseQuery(v, nil)
		if err != nil {
			return
		}
		r := q
		r.Statuses, r.Priorities = slices.Clone(q.Statuses), slices.Clone(q.Priorities)
		r.Teams, r.Assignees = slices.Clone(q.Teams), slices.Clone(q.Assignees)
		slices.Reverse(r.Statuses)
		slices.Reverse(r.Priorities)
		slices.Reverse(r.Teams)
		slices.Reverse(r.Assignees)
		r.Teams = append(r.Teams, r.Teams...) // repeats do not count either
		if FilterHash(q) != FilterHash(r) {
			t.Fatalf("%q hashes differently with its values reversed", raw)
		}
	})
}

func FuzzParseLiveCursor(f *testing.F) {
	sealer := newTestSealer(f, "fuzz key, sixteen bytes or more")
	f.Add(sealer.LiveCursorString(LiveCursor{Filter: 9, Cluster: 3, Watermark: ChangePos{Xmax: 100, Seq: 100, ID: 2}, Live: ChangePos{Xmax: 120, Seq: 120, ID: 5}}))
	f.Add(sealer.LiveCursorString(LiveCursor{SnapshotDone: true, Snapshot: Cursor{UpdatedAt: time.Unix(1700000000, 123000).UTC(), ID: 77}}))
	f.Add(sealer.LiveCursorString(LiveCursor{Filter: 1, Watermark: ChangePos{Xmax: 1 << 63}, Live: ChangePos{Xmax: 1<<64 - 1, Pending: []uint64{5, 1 << 62}, Seq: 9, ID: -1}}))
	f.Add(oldLiveCursor(LiveCursor{Filter: 9, Watermark: ChangePos{Seq: 100, ID: 2}, Live: ChangePos{Seq: 120, ID: 5}}))
	f.Add(newTestSealer(f, "another key, sixteen bytes long").LiveCursorString(LiveCursor{Filter: 9}))
	f.Add(sealer.LiveCursorString(LiveCursor{Filter: 2, HeldKnown: true, Held: HeldDigest{1, 2}, Live: ChangePos{Xmax: 5, Seq: 5, ID: 1}}))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := sealer.OpenLiveCursor(s)
		if err != nil {
			if ErrorCode(err) != EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			return
		}
		// Sealed again it reads the same, in another text (the nonce).
		again := sealer.LiveCursorString(c)
		if again == s {
			t.Fatalf("accepted %q, which seals back to the same text: the nonce did not change", s)
		}
		if c2, err := sealer.OpenLiveCursor(again); err != nil || !reflect.DeepEqual(c2, c) {
			t.Fatalf("accepted %q as %+v, which sealed again opens as %+v, %v", s, c, c2, err)
		}
		for _, p := range []ChangePos{c.Watermark, c.Live} {
			if !p.valid() || pendingBytes(p.Xmax, p.Pending) > cursorPendingBytes {
				t.Fatalf("accepted a position no server hands out: %+v", p)
			}
		}
	})
}

// A position with more pending transactions than a cursor records is
// sealed lower: it covers no more than before — a client resuming from it
// may get changes again, never miss one — and the live position still
// includes the watermark.
func TestLiveCursor_CapsPendingTransactionsSafely(t *testing.T) {
	t.Parallel()
	sealer := newTestSealer(t, "test key, sixteen bytes or more")
	var pending []uint64
	for x := uint64(100); x < 100+2*CursorPendingMax; x += 2 {
		pending = append(pending, x)
	}
	watermark := ChangePos{Xmax: 500, Pending: pending}
	live := ChangePos{Xmax: 600, Pending: append(slices.Clone(pending[1:]), 550), Seq: 590, ID: 4}
	c := LiveCursor{Filter: 1, Cluster: 2, Watermark: watermark, Live: live}
	s := sealer.LiveCursorString(c)
	got, err := sealer.OpenLiveCursor(s)
	if err != nil {
		t.Fatalf("OpenLiveCursor: %v", err)
	}
	if len(got.Live.Pending) > CursorPendingMax || len(got.Watermark.Pending) > CursorPendingMax {
		t.Fatalf("sealed %d and %d pending transactions, want at most %d", len(got.Watermark.Pending), len(got.Live.Pending), CursorPendingMax)
	}
	if !watermark.Includes(got.Watermark) || !live.Includes(got.Live) {
		t.Fatalf("the sealed positions %v, %v cover more than %v, %v", got.Watermark, got.Live, watermark, live)
	}
	if !got.Live.Includes(got.Watermark) {
		t.Fatalf("the sealed live position %v lacks what the watermark %v has", got.Live, got.Watermark)
	}
	if len(s) > encodedMaxLiveCursorLen {
		t.Fatalf("cursor of %d characters, longer than the %d allowed", len(s), encodedMaxLiveCursorLen)
	}
}

// A live cursor's held digest is encrypted: the digest is a XOR of terms,
// so a client that could read the digests of the sets it held could solve
// for the terms and forge a claim. Its bytes are not in the cursor, and
// digests one bit apart seal to unrelated bytes.
func TestLiveCursor_TheHeldDigestIsNotReadable(t *testing.T) {
	t.Parallel()
	sealer := newTestSealer(t, "test key, sixteen bytes or more")
	held := HeldDigest{0x0102030405060708, 0x1112131415161718}
	c := LiveCursor{Filter: 1, HeldKnown: true, Held: held, Live: ChangePos{Xmax: 5, Seq: 5, ID: 1}}
	plain := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, held[0]), held[1])
	a := sealedBytes(t, sealer, c)
	if bytes.Contains(a, plain) || bytes.Contains(a, plain[:8]) || bytes.Contains(a, plain[8:]) {
		t.Fatalf("the digest is readable in the cursor %x", a)
	}
	c.Held[1] ^= 1
	if diff := bitsApart(a, sealedBytes(t, sealer, c)); diff < 40 {
		t.Fatalf("digests one bit apart seal to cursors %d bits apart", diff)
	}
}

// A live cursor's positions are transaction numbers of the whole database
// server: a client scoped to one team must not read them — they would say
// how many transactions ran anywhere, and when. The cursor is encrypted
// (but for its version byte): a position's bytes are not in it, and
// positions one apart seal to unrelated bytes.
func TestLiveCursor_ThePositionIsNotReadable(t *testing.T) {
	t.Parallel()
	sealer := newTestSealer(t, "test key, sixteen bytes or more")
	const xmax = 0x0123456789ab
	c := LiveCursor{Filter: 7, Cluster: 9, Watermark: ChangePos{Xmax: xmax}, Live: ChangePos{Xmax: xmax, Seq: xmax - 3, ID: 42, Pending: []uint64{xmax - 9}}, SnapshotDone: true}
	a := sealedBytes(t, sealer, c)
	for _, v := range []uint64{xmax, xmax - 3, xmax - 9} {
		if bytes.Contains(a, binary.AppendUvarint(nil, v)) {
			t.Fatalf("the position %d is readable in the cursor %x", v, a)
		}
	}
	if got, err := sealer.OpenLiveCursor(sealer.LiveCursorString(c)); err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("OpenLiveCursor = %+v, %v; want %+v", got, err, c)
	}
	c.Live.Xmax++
	if diff := bitsApart(a, sealedBytes(t, sealer, c)); diff < 64 {
		t.Fatalf("positions one apart seal to cursors %d bits apart", diff)
	}
}

// A cursor of version 6 — encrypted, without the nonce — is refused as an
// older version's: the client drops it and resyncs.
func TestLiveCursor_Version6IsAnOlderVersion(t *testing.T) {
	t.Parallel()
	sealer := newTestSealer(t, "test key, sixteen bytes or more")
	c := LiveCursor{Filter: 7, Cluster: 9, Live: ChangePos{Xmax: 100, Seq: 99, ID: 1}, SnapshotDone: true}
	// Version 6's body: this one's without the nonce, padded to its length.
	b := c.appendTo(nil)
	b = append(b[:2], b[2+liveNonceLen:]...)
	b[0] = v6LiveCursorVersion
	b = append(b, make([]byte, sealedLiveBodyLen-liveNonceLen-len(b))...)
	b = append(b, make([]byte, macLen)...)
	sealer.seal(b)
	st := sealer.macs.Get().(*macState)
	sealer.crypt(st, b)
	sealer.macs.Put(st)
	text := base64.RawURLEncoding.EncodeToString(b)
	if !IsLiveCursor(text) || !IsCursorShaped(text) {
		t.Fatalf("a version 6 cursor is not taken for a live cursor")
	}
	if _, err := sealer.OpenLiveCursor(text); err == nil || !strings.Contains(err.Error(), "older version") {
		t.Fatalf("a version 6 cursor gave %v, want the older-version refusal", err)
	}
}

// TestLiveCursor_NeverSealsToTheSameText: a client scoped to one team that
// subscribes again and again must not tell from its cursors when the
// server's position moved — when any transaction anywhere ran. The same
// cursor sealed twice gives unrelated texts of one length, which open to
// it; by one sealer and by another of the same key (a replica).
func TestLiveCursor_NeverSealsToTheSameText(t *testing.T) {
	t.Parallel()
	sealer := newTestSealer(t, "test key, sixteen bytes or more")
	replica := newTestSealer(t, "test key, sixteen bytes or more")
	c := LiveCursor{Filter: 7, Cluster: 9, Watermark: ChangePos{Xmax: 100}, Live: ChangePos{Xmax: 100}, SnapshotDone: true}
	seen := map[string]bool{}
	for i := range 1000 {
		s := sealer
		if i%2 == 1 {
			s = replica
		}
		text := s.LiveCursorString(c)
		if seen[text] {
			t.Fatalf("seal %d repeats an earlier text: whether the position moved shows", i)
		}
		seen[text] = true
		if got, err := sealer.OpenLiveCursor(text); err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("seal %d opens as %+v, %v; want %+v", i, got, err, c)
		}
		if len(text) != len(sealer.LiveCursorString(LiveCursor{})) {
			t.Fatalf("seal %d is %d long, another cursor %d", i, len(text), len(sealer.LiveCursorString(LiveCursor{})))
		}
	}
}

// A cursor of version 5 — the same fields, sealed but not encrypted — is
// refused as an older version's, so that the client drops it and resyncs,
// rather than as a malformed one.
func TestLiveCursor_Version5IsAnOlderVersion(t *testing.T) {
	t.Parallel()
	sealer := newTestSealer(t, "test key, sixteen bytes or more")
	c := LiveCursor{Filter: 7, Cluster: 9, Live: ChangePos{Xmax: 100, Seq: 99, ID: 1}, SnapshotDone: true}
	b := c.appendTo(nil)
	b[0] = v5LiveCursorVersion
	b = append(b, make([]byte, macLen)...)
	sealer.seal(b)
	text := base64.RawURLEncoding.EncodeToString(b)
	if !IsLiveCursor(text) {
		t.Fatalf("a version 5 cursor is not taken for a live cursor")
	}
	if _, err := sealer.OpenLiveCursor(text); err == nil || !strings.Contains(err.Error(), "older version") {
		t.Fatalf("a version 5 cursor gave %v, want the older-version refusal", err)
	}
}

// TestLiveCursor_KeepsTheLengthOfVersion6: a server of the release
// before, met in a rolling deploy, reads a cursor of this length as one
// of another version (the dashboard resyncs); longer, it would be no
// cursor at all, and refused. Fifteen pending transactions at the largest
// distances fit in each position.
func TestLiveCursor_KeepsTheLengthOfVersion6(t *testing.T) {
	t.Parallel()
	if maxLiveCursorLen != sealedLiveCursorLen || cursorPendingBytes < CursorPendingMax*binary.MaxVarintLen64 {
		t.Fatalf("a sealed live cursor takes %d bytes, version 6's %d; %d for pending transactions", maxLiveCursorLen, sealedLiveCursorLen, cursorPendingBytes)
	}
	sealer := newTestSealer(t, "test key, sixteen bytes or more")
	if n := len(sealer.LiveCursorString(LiveCursor{})); n != 630 {
		t.Fatalf("a live cursor of %d characters, version 6's 630", n)
	}
}

// TestLiveCursor_RecordsWhatFitsOfPendingTransactions: transactions open
// at once on a server have numbers close together, and a cursor records as
// many as fit in its room — a hundred and more — so that a dashboard
// resuming while more than 16 are open (in any database of the server)
// gets exactly what it missed, not everything since the oldest began.
// Past the room, and for numbers far apart past 16, the positions are
// lowered: never covering more than they did, the live one still
// including the watermark, every cursor of one length.
func TestLiveCursor_RecordsWhatFitsOfPendingTransactions(t *testing.T) {
	t.Parallel()
	sealer := newTestSealer(t, "test key, sixteen bytes or more")
	spaced := func(from, step uint64, n int) []uint64 {
		var p []uint64
		for i := range n {
			p = append(p, from+uint64(i)*step)
		}
		return p
	}
	rng := rand.New(rand.NewPCG(3, 4))
	scattered := func(n int) []uint64 {
		set := map[uint64]bool{}
		for len(set) < n {
			set[1_000_000+rng.Uint64N(5_000_000)] = true
		}
		p := slices.Collect(maps.Keys(set))
		slices.Sort(p)
		return p
	}
	tests := []struct {
		name    string
		pending []uint64
		xmax    uint64
		exact   bool // every pending transaction recorded
		atLeast int  // else: recorded at least
	}{
		{"20 open, close together", spaced(1000, 3, 20), 1100, true, 0},
		{"150 open, one apart", spaced(1000, 1, 150), 1200, true, 0},
		{"45 open across the server", scattered(45), 7_000_000, true, 0},
		{"400 open: past the room", spaced(1000, 1, 400), 2000, false, 150},
		{"20 open, far apart", spaced(1<<20, 1<<50, 20), 1 << 62, false, CursorPendingMax},
		{"a thousand scattered", scattered(1000), 7_000_000, false, 60},
	}
	want := len(sealer.LiveCursorString(LiveCursor{}))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			watermark := ChangePos{Xmax: tc.xmax, Pending: tc.pending}
			// The live position has read some of the watermark's pending
			// transactions and has one open of its own.
			livePending := append(slices.Clone(tc.pending[len(tc.pending)/3:]), tc.xmax+5)
			live := ChangePos{Xmax: tc.xmax + 10, Pending: livePending, Seq: tc.xmax + 7, ID: 3}
			c := LiveCursor{Filter: 1, Cluster: 2, Watermark: watermark, Live: live, SnapshotDone: true}
			text := sealer.LiveCursorString(c)
			if len(text) != want {
				t.Fatalf("a cursor of %d characters, others %d", len(text), want)
			}
			got, err := sealer.OpenLiveCursor(text)
			if err != nil {
				t.Fatalf("OpenLiveCursor: %v", err)
			}
			if tc.exact {
				if !reflect.DeepEqual(got, c) {
					t.Fatalf("recorded %v, %v; want exactly %v, %v", got.Watermark, got.Live, watermark, live)
				}
				return
			}
			if n := len(got.Watermark.Pending); n < tc.atLeast {
				t.Fatalf("recorded %d of the watermark's pending transactions, want at least %d", n, tc.atLeast)
			}
			if !watermark.Includes(got.Watermark) || !live.Includes(got.Live) {
				t.Fatalf("the sealed positions %v, %v cover more than %v, %v", got.Watermark, got.Live, watermark, live)
			}
			if !got.Live.Includes(got.Watermark) {
				t.Fatalf("the sealed live position %v lacks what the watermark %v has", got.Live, got.Watermark)
			}
		})
	}
}

// Encrypted, a cursor could still tell by its length how many transactions
// are open on the whole server, or how far apart its positions are: every
// sealed live cursor has one length.
func TestLiveCursor_EveryCursorHasOneLength(t *testing.T) {
	t.Parallel()
	sealer := newTestSealer(t, "test key, sixteen bytes or more")
	want := -1
	for pending := range CursorPendingMax + 3 {
		for _, xmax := range []uint64{100, 1 << 20, 1 << 40, 1<<63 - 1} {
			p := ChangePos{Xmax: xmax, Seq: xmax - 1, ID: int64(xmax % 1000)}
			for i := range pending {
				p.Pending = append(p.Pending, xmax-uint64(2+i))
			}
			slices.Sort(p.Pending)
			for _, held := range []bool{false, true} {
				c := LiveCursor{Filter: 1, Watermark: p, Live: p, HeldKnown: held, SnapshotDone: true}
				text := sealer.LiveCursorString(c)
				if want < 0 {
					want = len(text)
				}
				if len(text) != want {
					t.Fatalf("%d pending, xmax %d, held %v: a cursor of %d characters, others %d", pending, xmax, held, len(text), want)
				}
				if _, err := sealer.OpenLiveCursor(text); err != nil {
					t.Fatalf("%d pending, xmax %d: %v", pending, xmax, err)
				}
			}
		}
	}
	t.Logf("every live cursor: %d characters", want)
}

// sealedBytes returns c sealed by sealer, base64-decoded.
func sealedBytes(t *testing.T, sealer *CursorSealer, c LiveCursor) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(sealer.LiveCursorString(c))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bitsApart counts the bits in which a and b differ, over their common length.
func bitsApart(a, b []byte) int {
	diff := 0
	for i := range min(len(a), len(b)) {
		diff += bits.OnesCount8(a[i] ^ b[i])
	}
	return diff
}
