package domain_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func TestCursorSealer_MACIsHMACSHA256(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"sixteen byte key", strings.Repeat("k", 64), strings.Repeat("long key ", 20)} {
		s := testSealer(t, key)
		body := []byte("a cursor body of some length")
		m := hmac.New(sha256.New, []byte(key))
		m.Write(body)
		if want := m.Sum(nil)[:16]; !bytes.Equal(domain.SealForTest(s, body), want) {
			t.Fatalf("key of %d bytes: MAC %x, want HMAC-SHA256 truncated %x", len(key), domain.SealForTest(s, body), want)
		}
	}
}

func TestNewCursorSealer_RefusesAShortKey(t *testing.T) {
	t.Parallel()
	if _, err := domain.NewCursorSealer([]byte("too short")); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("a 9-byte key gave %v, want EInvalid", err)
	}
}

// Every way a client could come by a cursor the server did not hand out as
// it stands is refused with a message that says to start again.
func TestCursorSealer_RefusesForgedCursors(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t, "the server's key, shared by replicas")
	other := testSealer(t, "another deployment's key, 32 bytes")
	snap := domain.Cursor{UpdatedAt: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), ID: 99}
	live := domain.LiveCursor{Filter: 5, Cluster: 11, Watermark: domain.ChangePos{Xmax: 900}, Snapshot: snap, Live: domain.ChangePos{Xmax: 950, Seq: 950, ID: 3}}

	type opener func(string) error
	openSnap := func(s string) error { _, err := sealer.OpenCursor(s); return err }
	openLive := func(s string) error { _, err := sealer.OpenLiveCursor(s); return err }
	for _, tc := range []struct {
		name  string
		valid string
		wrong string
		open  opener
	}{
		{"snapshot", sealer.CursorString(snap), other.CursorString(snap), openSnap},
		{"live", sealer.LiveCursorString(live), other.LiveCursorString(live), openLive},
	} {
		if err := tc.open(tc.valid); err != nil {
			t.Fatalf("%s: the valid cursor was refused: %v", tc.name, err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(tc.valid)
		for i := range raw {
			for _, flip := range []byte{0x01, 0x80} {
				b := bytes.Clone(raw)
				b[i] ^= flip
				s := base64.RawURLEncoding.EncodeToString(b)
				if err := tc.open(s); domain.ErrorCode(err) != domain.EInvalid {
					t.Fatalf("%s: byte %d altered (^%#x) gave %v, want EInvalid", tc.name, i, flip, err)
				}
			}
		}
		if err := tc.open(tc.wrong); err == nil || !strings.Contains(err.Error(), "not issued by this server") {
			t.Fatalf("%s: a cursor sealed with another key gave %v", tc.name, err)
		}
	}
	// The documented hand-made cursor of the unsealed format: version 2,
	// any filter hash, position 0 — once a replay of every ticket id.
	handMade := base64.RawURLEncoding.EncodeToString(append([]byte{2, 0, 1, 2, 3, 4}, make([]byte, 52)...))
	if _, err := sealer.OpenLiveCursor(handMade); err == nil || !strings.Contains(err.Error(), "older version") {
		t.Fatalf("a hand-made cursor of the old format gave %v, want the older-version refusal", err)
	}
	if _, err := sealer.OpenCursor(rawCursor(1, 1700000000, 0, 5)); err == nil || !strings.Contains(err.Error(), "older version") {
		t.Fatalf("an old snapshot cursor gave %v, want the older-version refusal", err)
	}
}

// The REST stream seals its next cursor and the socket one per message:
// neither may allocate.
func TestCursorSealer_AppendAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops states under -race; measured without it")
	}
	sealer := testSealer(t, "the server's key, shared by replicas")
	snap := domain.Cursor{UpdatedAt: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), ID: 99}
	live := domain.LiveCursor{Filter: 5, Cluster: 11, Watermark: domain.ChangePos{Xmax: 900}, Snapshot: snap, Live: domain.ChangePos{Xmax: 950, Seq: 950, ID: 3}}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = sealer.AppendCursor(buf[:0], snap) }); n != 0 {
		t.Errorf("AppendCursor: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = sealer.AppendLiveCursor(buf[:0], live) }); n != 0 {
		t.Errorf("AppendLiveCursor: %v allocations", n)
	}
}

// BenchmarkCursorSealer_AppendLiveCursor is what sealing costs each live
// message: its cursor, with the digest of what the dashboard holds
// encrypted in it, MACed and encoded.
//
//	go test -run '^$' -bench AppendLiveCursor ./domain
func BenchmarkCursorSealer_AppendLiveCursor(b *testing.B) {
	sealer := testSealer(b, "the server's key, shared by replicas")
	live := domain.LiveCursor{Filter: 5, Cluster: 11, Watermark: domain.ChangePos{Xmax: 900}, Live: domain.ChangePos{Xmax: 950, Seq: 950, ID: 3},
		SnapshotDone: true, Held: domain.HeldDigest{0x0123456789abcdef, 0xfedcba9876543210}, HeldKnown: true}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = sealer.AppendLiveCursor(buf[:0], live)
	}
}
