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
	tests := []domain.Cursor{
		{UpdatedAt: time.Date(2025, 10, 26, 9, 14, 3, 123456000, time.UTC), ID: 42},
		{UpdatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ID: 1},
		{UpdatedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), ID: 1<<63 - 1},
		{UpdatedAt: time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), ID: 7},
	}
	for _, c := range tests {
		s := c.String()
		got, err := domain.ParseCursor(s)
		if err != nil {
			t.Fatalf("ParseCursor(%q) of %v: %v", s, c, err)
		}
		if got.Compare(c) != 0 || !got.UpdatedAt.Equal(c.UpdatedAt) {
			t.Fatalf("round trip of %v gave %v", c, got)
		}
		if string(c.AppendText([]byte("x"))) != "x"+s {
			t.Fatalf("AppendText differs from String for %v", c)
		}
	}
	if z, err := domain.ParseCursor(""); err != nil || !z.IsZero() {
		t.Fatalf(`ParseCursor("") = %v, %v; want the zero cursor`, z, err)
	}
	if (domain.Cursor{}).String() != "" {
		t.Fatal("the zero cursor must print as the empty string")
	}
}

func TestParseCursor_RefusesMalformed(t *testing.T) {
	t.Parallel()
	valid := domain.Cursor{UpdatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), ID: 9}.String()
	tests := map[string]string{
		"garbage":              "not-a-cursor",
		"too short":            valid[:len(valid)-1],
		"too long":             valid + "A",
		"not base64":           strings.Repeat("*", len(valid)),
		"padding":              valid[:len(valid)-2] + "==",
		"wrong version":        "Ag" + valid[2:],
		"all zeros":            strings.Repeat("A", len(valid)),
		"huge":                 strings.Repeat("x", 10<<20),
		"standard alphabet":    strings.ReplaceAll(strings.ReplaceAll(valid, "-", "+"), "_", "/") + "+",
		"invalid utf-8":        "\xff\xfe" + valid[2:],
		"nanoseconds overflow": rawCursor(1, 1700000000, 1e9, 5),
		"negative id":          rawCursor(1, 1700000000, 0, -5),
		"zero id":              rawCursor(1, 1700000000, 0, 0),
		"year 10000":           rawCursor(1, 253402300800, 0, 5),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := domain.ParseCursor(s)
			var derr *domain.Error
			if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != "cursor" {
				t.Fatalf("ParseCursor(%.40q) = %v, want an EInvalid error naming cursor", s, err)
			}
		})
	}
}

// rawCursor encodes a cursor's binary form directly, to build ones that
// String never produces.
func rawCursor(version byte, sec int64, nsec uint32, id int64) string {
	b := []byte{version}
	b = binary.BigEndian.AppendUint64(b, uint64(sec))
	b = binary.BigEndian.AppendUint32(b, nsec)
	b = binary.BigEndian.AppendUint64(b, uint64(id))
	return base64.RawURLEncoding.EncodeToString(b)
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
	f.Add(domain.Cursor{UpdatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), ID: 9}.String())
	f.Add("")
	f.Add("AQAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Add("\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := domain.ParseCursor(s)
		if err != nil {
			if domain.ErrorCode(err) != domain.EInvalid {
				t.Fatalf("ParseCursor(%q) failed with %v, not an EInvalid error", s, err)
			}
			return
		}
		if c.String() != s {
			t.Fatalf("ParseCursor accepted %q but prints it as %q", s, c.String())
		}
	})
}
