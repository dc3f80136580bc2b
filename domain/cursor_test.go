package domain_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func TestCursor_RoundTrips(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t, "test key, sixteen bytes or more")
	tests := []domain.Cursor{
		{UpdatedAt: time.Date(2025, 10, 26, 9, 14, 3, 123456000, time.UTC), ID: 42},
		{UpdatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ID: 1},
		{UpdatedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), ID: 1<<63 - 1},
		{UpdatedAt: time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), ID: 7},
	}
	for _, c := range tests {
		s := sealer.CursorString(c)
		got, err := sealer.OpenCursor(s)
		if err != nil {
			t.Fatalf("OpenCursor(%q) of %v: %v", s, c, err)
		}
		if got.Compare(c) != 0 || !got.UpdatedAt.Equal(c.UpdatedAt) {
			t.Fatalf("round trip of %v gave %v", c, got)
		}
		if string(sealer.AppendCursor([]byte("x"), c)) != "x"+s {
			t.Fatalf("AppendCursor differs from CursorString for %v", c)
		}
		if domain.IsLiveCursor(s) || !domain.IsCursorShaped(s) {
			t.Fatalf("%q is not shaped as a snapshot cursor", s)
		}
	}
	if z, err := sealer.OpenCursor(""); err != nil || !z.IsZero() {
		t.Fatalf(`OpenCursor("") = %v, %v; want the zero cursor`, z, err)
	}
	if sealer.CursorString(domain.Cursor{}) != "" {
		t.Fatal("the zero cursor must print as the empty string")
	}
}

func TestOpenCursor_RefusesMalformed(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t, "test key, sixteen bytes or more")
	valid := sealer.CursorString(domain.Cursor{UpdatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), ID: 9})
	tests := map[string]string{
		"garbage":              "not-a-cursor",
		"too short":            valid[:len(valid)-1],
		"too long":             valid + "A",
		"not base64":           strings.Repeat("*", len(valid)),
		"padding":              valid[:len(valid)-2] + "==",
		"wrong version":        "Aw" + valid[2:],
		"all zeros":            strings.Repeat("A", len(valid)),
		"huge":                 strings.Repeat("x", 10<<20),
		"standard alphabet":    strings.ReplaceAll(strings.ReplaceAll(valid, "-", "+"), "_", "/") + "+",
		"invalid utf-8":        "\xff\xfe" + valid[2:],
		"old version":          rawCursor(1, 1700000000, 0, 5),
		"unsealed":             rawCursor(2, 1700000000, 0, 5),
		"nanoseconds overflow": sealedRaw(sealer, 1700000000, 1e9, 5),
		"negative id":          sealedRaw(sealer, 1700000000, 0, -5),
		"zero id":              sealedRaw(sealer, 1700000000, 0, 0),
		"year 10000":           sealedRaw(sealer, 253402300800, 0, 5),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := sealer.OpenCursor(s)
			var derr *domain.Error
			if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != "cursor" {
				t.Fatalf("OpenCursor(%.40q) = %v, want an EInvalid error naming cursor", s, err)
			}
		})
	}
}

// rawCursor encodes a cursor's binary form directly, without a MAC, to
// build ones that a CursorSealer never produces.
func rawCursor(version byte, sec int64, nsec uint32, id int64) string {
	b := []byte{version}
	b = binary.BigEndian.AppendUint64(b, uint64(sec))
	b = binary.BigEndian.AppendUint32(b, nsec)
	b = binary.BigEndian.AppendUint64(b, uint64(id))
	return base64.RawURLEncoding.EncodeToString(b)
}

// sealedRaw seals a cursor body that the sealer itself never writes: what
// the checks behind the MAC must still refuse.
func sealedRaw(s *domain.CursorSealer, sec int64, nsec uint32, id int64) string {
	b := []byte{2}
	b = binary.BigEndian.AppendUint64(b, uint64(sec))
	b = binary.BigEndian.AppendUint32(b, nsec)
	b = binary.BigEndian.AppendUint64(b, uint64(id))
	return base64.RawURLEncoding.EncodeToString(append(b, domain.SealForTest(s, b)...))
}

func testSealer(t testing.TB, key string) *domain.CursorSealer {
	t.Helper()
	s, err := domain.NewCursorSealer([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCursor_OrdersByUpdatedAtThenID(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a := domain.Cursor{UpdatedAt: t0, ID: 5}
	tests := []struct {
		b    domain.Cursor
		want int
	}{
		{domain.Cursor{UpdatedAt: t0, ID: 5}, 0},
		{domain.Cursor{UpdatedAt: t0, ID: 6}, -1},
		{domain.Cursor{UpdatedAt: t0, ID: 4}, 1},
		{domain.Cursor{UpdatedAt: t0.Add(time.Microsecond), ID: 1}, -1},
		{domain.Cursor{UpdatedAt: t0.Add(-time.Nanosecond), ID: 99}, 1},
	}
	for _, tc := range tests {
		if got := a.Compare(tc.b); got != tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", a, tc.b, got, tc.want)
		}
	}
	tk := domain.Ticket{ID: 6, UpdatedAt: t0}
	if !a.Before(&tk) || (domain.Cursor{UpdatedAt: t0, ID: 6}).Before(&tk) {
		t.Fatal("Before must be strict")
	}
}

func FuzzCursor(f *testing.F) {
	sealer := testSealer(f, "fuzz key, sixteen bytes or more")
	valid := sealer.CursorString(domain.Cursor{UpdatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), ID: 9})
	f.Add(valid)
	f.Add("x" + valid[1:])
	f.Add(testSealer(f, "another key, sixteen bytes long").CursorString(domain.Cursor{UpdatedAt: time.Unix(1700000000, 0), ID: 9}))
	f.Add(sealer.LiveCursorString(domain.LiveCursor{Filter: 1, Live: domain.ChangePos{Xmax: 1 << 63}}))
	f.Add("")
	f.Add("AQAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Add("\x00\xff")
	key := domain.RowKey{Priority: domain.PriorityHigh, Status: domain.StatusNew, CreatedAt: time.Unix(1700000000, 5000).UTC(),
		UpdatedAt: time.Unix(1700000100, 0).UTC(), Team: "billing", Assignee: "ann", ID: 12}
	sorts := []domain.Sort{}
	for _, text := range []string{"-priority,created_at", "team", "status,-assignee,updated_at"} {
		s, _ := domain.ParseSort(text)
		sorts = append(sorts, s)
		f.Add(sealer.SortCursorString(s, &key))
	}
	f.Fuzz(func(t *testing.T, s string) {
		// A sorted cursor opens only for its own sort and seals back to
		// the same text.
		for _, sort := range sorts {
			k, err := sealer.OpenSortCursor(s, sort)
			if err != nil {
				var derr *domain.Error
				if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != domain.ParamCursor {
					t.Fatalf("OpenSortCursor(%q) failed with %v, not an EInvalid error naming cursor", s, err)
				}
				continue
			}
			if got := sealer.SortCursorString(sort, &k); got != s {
				t.Fatalf("OpenSortCursor accepted %q but seals it as %q", s, got)
			}
		}
		c, err := sealer.OpenCursor(s)
		if err != nil {
			var derr *domain.Error
			if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != domain.ParamCursor {
				t.Fatalf("OpenCursor(%q) failed with %v, not an EInvalid error naming cursor", s, err)
			}
			return
		}
		if got := sealer.CursorString(c); got != s {
			t.Fatalf("OpenCursor accepted %q but seals it as %q", s, got)
		}
	})
}
