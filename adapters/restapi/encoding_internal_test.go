package restapi

import (
	"strings"
	"testing"
)

const both = codings(1<<codingGzip | 1<<codingZstd)

func TestNegotiate_FollowsQValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		header  []string // nil: no Accept-Encoding field
		offered codings
		want    coding
	}{
		{"no field", nil, both, identity},
		{"empty field", []string{""}, both, identity},
		{"gzip", []string{"gzip"}, both, codingGzip},
		{"zstd", []string{"zstd"}, both, codingZstd},
		{"both equal prefers zstd", []string{"gzip, zstd"}, both, codingZstd},
		{"browser", []string{"gzip, deflate, br, zstd"}, both, codingZstd},
		{"curl --compressed", []string{"deflate, gzip, br, zstd"}, both, codingZstd},
		{"gzip weighted higher", []string{"gzip;q=1.0, zstd;q=0.9"}, both, codingGzip},
		{"zstd weighted higher", []string{"gzip;q=0.2,zstd;q=0.3"}, both, codingZstd},
		{"x-gzip is gzip", []string{"x-gzip"}, both, codingGzip},
		{"case and spaces", []string{"  GZIP ;  Q=0.5 "}, both, codingGzip},
		{"q=0 refuses", []string{"gzip;q=0"}, both, identity},
		{"q=0.000 refuses", []string{"zstd;q=0.000, gzip;q=0.001"}, both, codingGzip},
		{"a repeat keeps the higher weight", []string{"zstd;q=0, zstd"}, both, codingZstd},
		{"star", []string{"*"}, both, codingZstd},
		{"star refused", []string{"*;q=0"}, both, identity},
		{"star but not zstd", []string{"*, zstd;q=0"}, both, codingGzip},
		{"named beats star", []string{"*;q=0.1, gzip;q=0.5"}, both, codingGzip},
		{"identity only", []string{"identity"}, both, identity},
		{"identity preferred", []string{"gzip;q=0.5, identity"}, both, identity},
		{"identity below", []string{"gzip, identity;q=0.5"}, both, codingGzip},
		{"identity refused, nothing offered", []string{"br, identity;q=0"}, both, identity},
		{"unknown coding", []string{"br, deflate"}, both, identity},
		{"several field lines", []string{"gzip;q=0.5", "zstd;q=0.8"}, both, codingZstd},
		{"only gzip offered", []string{"zstd, gzip"}, codings(0).with(codingGzip), codingGzip},
		{"only zstd offered", []string{"gzip"}, codings(0).with(codingZstd), identity},
		{"off", []string{"gzip, zstd"}, 0, identity},
		{"bad q skips the entry", []string{"zstd;q=2, gzip"}, both, codingGzip},
		{"q with too many digits", []string{"zstd;q=0.1234, gzip;q=0.1"}, both, codingGzip},
		{"q=1.001", []string{"zstd;q=1.001, gzip"}, both, codingGzip},
		{"other parameters ignored", []string{"zstd;level=3;q=0.5, gzip;q=0.4"}, both, codingZstd},
		{"bogus", []string{";;;,,, q=abc, =gzip, gz ip, \x00zstd"}, both, identity},
		{"not a token", []string{"gz\"ip"}, both, identity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := negotiate(tc.header, tc.offered); got != tc.want {
				t.Fatalf("negotiate(%q, %b) = %q, want %q", tc.header, tc.offered, got, tc.want)
			}
		})
	}
}

func TestParseQValue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"0": 0, "1": 1000, "0.5": 500, "0.05": 50, "0.005": 5, "1.000": 1000, "0.": 0, "1.": 1000} {
		if got, ok := parseQValue(in); !ok || got != want {
			t.Errorf("parseQValue(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "2", "-0", "0.1234", "1.5", "1.0001", ".5", "0,5", "0.a", "01"} {
		if got, ok := parseQValue(in); ok {
			t.Errorf("parseQValue(%q) = %d, accepted", in, got)
		}
	}
}

// FuzzNegotiate: any Accept-Encoding value gets an answer, never a panic;
// it names a coding only when that coding (or "*") is in the field, and
// one the server offers.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br, zstd", "gzip;q=0.5, zstd;q=0", "*;q=0, identity", "x-gzip;q=1.000",
		"zstd;q=0.1234", ";;,,q=,", "GZIP ; q = 1", "\xff\x00zstd"} {
		f.Add(s, uint8(both))
	}
	f.Fuzz(func(t *testing.T, header string, offered uint8) {
		set := codings(offered) & both
		got := negotiate([]string{header}, set)
		if got == identity {
			return
		}
		lower := strings.ToLower(header)
		if !set.has(got) || (!strings.Contains(lower, got.String()) && !strings.Contains(header, "*")) {
			t.Fatalf("negotiate(%q, %b) = %q: not offered or not in the field", header, set, got)
		}
		if again := negotiate([]string{header}, set); again != got {
			t.Fatalf("negotiate(%q) = %q, then %q", header, got, again)
		}
	})
}
