package domain

import (
	"encoding/base64"
	"encoding/binary"
	"slices"
	"testing"
	"time"
)

func TestChangePos_Compare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b ChangePos
		want int
	}{
		{ChangePos{}, ChangePos{}, 0},
		{ChangePos{Seq: 1}, ChangePos{Seq: 1, ID: 1}, -1},
		{ChangePos{Seq: 2}, ChangePos{Seq: 1, ID: 99}, 1},
		{ChangePos{Seq: 5, ID: 3}, ChangePos{Seq: 5, ID: 3}, 0},
		{ChangePos{Seq: 5, ID: 4}, ChangePos{Seq: 5, ID: 3}, 1},
	}
	for _, tc := range tests {
		if got := tc.a.Compare(tc.b); got != tc.want {
			t.Errorf("%+v.Compare(%+v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

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
		{Filter: 1, Cluster: 7714351331484346489, Watermark: ChangePos{Seq: 10}, Live: ChangePos{Seq: 10}},
		{Filter: 0xdeadbeef, Cluster: 1, Watermark: ChangePos{Seq: 1 << 40, ID: 7}, Snapshot: Cursor{UpdatedAt: time.Date(2025, 3, 4, 5, 6, 7, 8000, time.UTC), ID: 42}, Live: ChangePos{Seq: 1 << 41, ID: 1}},
		{SnapshotDone: true, Cluster: 1<<64 - 1, Snapshot: Cursor{UpdatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ID: 1}, Live: ChangePos{Seq: 3, ID: 9}},
		{Filter: 3, Cluster: 2, Watermark: ChangePos{Seq: 4}, Snapshot: Cursor{UpdatedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), ID: 9}, Live: ChangePos{Seq: 4},
			Start: Cursor{UpdatedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), ID: 2}, Read: 1<<32 - 1},
	}
	for _, c := range cursors {
		s := sealer.LiveCursorString(c)
		if !IsLiveCursor(s) || !IsCursorShaped(s) {
			t.Fatalf("IsLiveCursor(%q) = false", s)
		}
		got, err := sealer.OpenLiveCursor(s)
		if err != nil || got != c {
			t.Fatalf("OpenLiveCursor(%q) = %+v, %v; want %+v", s, got, err, c)
		}
	}
	good := sealer.LiveCursorString(cursors[2])
	bad := []string{
		"", "x", sealer.CursorString(Cursor{UpdatedAt: time.Now(), ID: 1}), // a snapshot cursor
		sealer.LiveCursorString(LiveCursor{Watermark: ChangePos{Seq: 5}, Live: ChangePos{Seq: 4}}), // live before the watermark
		good[:len(good)-1] + "!", "C" + good[1:], // bad alphabet, wrong version
		newTestSealer(t, "another key, sixteen bytes long").LiveCursorString(cursors[2]),
		oldLiveCursor(cursors[2]),
		prevLiveCursor(t, cursors[2]),
		sealer.LiveCursorString(LiveCursor{Snapshot: Cursor{UpdatedAt: time.Unix(5, 0).UTC(), ID: 1}, Start: Cursor{UpdatedAt: time.Unix(6, 0).UTC(), ID: 1}}), // snapshot before its start
	}
	for _, s := range bad {
		if _, err := sealer.OpenLiveCursor(s); ErrorCode(err) != EInvalid {
			t.Errorf("OpenLiveCursor(%q) = %v, want EInvalid", s, err)
		}
	}
}

// prevLiveCursor encodes c as version 3, sealed, without a start and a
// count of rows read: a client may hold one from before an upgrade.
func prevLiveCursor(t *testing.T, c LiveCursor) string {
	var b [prevLiveCursorLen]byte
	b[0] = prevLiveCursorVersion
	binary.BigEndian.PutUint32(b[2:], c.Filter)
	binary.BigEndian.PutUint64(b[6:], c.Cluster)
	putPos(b[14:], c.Watermark)
	putCursor(b[30:], c.Snapshot)
	putPos(b[50:], c.Live)
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
	putPos(b[6:], c.Watermark)
	putCursor(b[22:], c.Snapshot)
	putPos(b[42:], c.Live)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func TestFilterHash_IgnoresPositionAndOrder(t *testing.T) {
	t.Parallel()
	a := Query{Statuses: []Status{StatusOpen}, Teams: []string{"billing"}}
	b := Query{Teams: []string{"billing"}, Statuses: []Status{StatusOpen}, Limit: 10, AsOf: ChangePos{Seq: 3}}
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
	f.Add(sealer.LiveCursorString(LiveCursor{Filter: 9, Cluster: 3, Watermark: ChangePos{Seq: 100, ID: 2}, Live: ChangePos{Seq: 120, ID: 5}}))
	f.Add(sealer.LiveCursorString(LiveCursor{SnapshotDone: true, Snapshot: Cursor{UpdatedAt: time.Unix(1700000000, 123000).UTC(), ID: 77}}))
	f.Add(sealer.LiveCursorString(LiveCursor{Filter: 1, Watermark: ChangePos{Seq: 1 << 63}, Live: ChangePos{Seq: 1<<64 - 1}}))
	f.Add(oldLiveCursor(LiveCursor{Filter: 9, Watermark: ChangePos{Seq: 100, ID: 2}, Live: ChangePos{Seq: 120, ID: 5}}))
	f.Add(newTestSealer(f, "another key, sixteen bytes long").LiveCursorString(LiveCursor{Filter: 9}))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := sealer.OpenLiveCursor(s)
		if err != nil {
			if ErrorCode(err) != EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			return
		}
		if got := sealer.LiveCursorString(c); got != s {
			t.Fatalf("accepted %q, which seals back as %q", s, got)
		}
		if c.Live.Compare(c.Watermark) < 0 {
			t.Fatalf("accepted a live position before the watermark: %+v", c)
		}
	})
}
