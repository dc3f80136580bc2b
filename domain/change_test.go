package domain

import (
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

func TestLiveCursor_RoundTripsAndRefusesDamage(t *testing.T) {
	t.Parallel()
	cursors := []LiveCursor{
		{},
		{Filter: 1, Watermark: ChangePos{Seq: 10}, Live: ChangePos{Seq: 10}},
		{Filter: 0xdeadbeef, Watermark: ChangePos{Seq: 1 << 40, ID: 7}, Snapshot: Cursor{UpdatedAt: time.Date(2025, 3, 4, 5, 6, 7, 8000, time.UTC), ID: 42}, Live: ChangePos{Seq: 1 << 41, ID: 1}},
		{SnapshotDone: true, Snapshot: Cursor{UpdatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ID: 1}, Live: ChangePos{Seq: 3, ID: 9}},
	}
	for _, c := range cursors {
		s := c.String()
		if !IsLiveCursor(s) {
			t.Fatalf("IsLiveCursor(%q) = false", s)
		}
		got, err := ParseLiveCursor(s)
		if err != nil || got != c {
			t.Fatalf("ParseLiveCursor(%q) = %+v, %v; want %+v", s, got, err, c)
		}
	}
	bad := []string{
		"", "x", Cursor{UpdatedAt: time.Now(), ID: 1}.String(), // a snapshot cursor
		LiveCursor{Watermark: ChangePos{Seq: 5}, Live: ChangePos{Seq: 4}}.String(), // live before the watermark
	}
	good := cursors[2].String()
	bad = append(bad, good[:len(good)-1]+"!", "B"+good[1:]) // bad alphabet, wrong version
	for _, s := range bad {
		if _, err := ParseLiveCursor(s); ErrorCode(err) != EInvalid {
			t.Errorf("ParseLiveCursor(%q) = %v, want EInvalid", s, err)
		}
	}
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

func FuzzParseLiveCursor(f *testing.F) {
	f.Add(LiveCursor{Filter: 9, Watermark: ChangePos{Seq: 100, ID: 2}, Live: ChangePos{Seq: 120, ID: 5}}.String())
	f.Add(LiveCursor{SnapshotDone: true, Snapshot: Cursor{UpdatedAt: time.Unix(1700000000, 123000).UTC(), ID: 77}}.String())
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseLiveCursor(s)
		if err != nil {
			if ErrorCode(err) != EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			return
		}
		if c.String() != s {
			t.Fatalf("accepted %q, which encodes back as %q", s, c.String())
		}
		if c.Live.Compare(c.Watermark) < 0 {
			t.Fatalf("accepted a live position before the watermark: %+v", c)
		}
	})
}
