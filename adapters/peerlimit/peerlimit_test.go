package peerlimit_test

import (
	"testing"

	"github.com/ticketstream/ticketstream/adapters/peerlimit"
)

// TestLimits_AddressKeys: one IPv4 address, or one IPv6 /64, is one
// client; an IPv4 address mapped into IPv6 is the same client as itself.
func TestLimits_AddressKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		first       string // RemoteAddr of the holding that takes the only place
		second      string
		wantRefused bool
	}{
		{"same IPv4, another port", "192.0.2.7:4000", "192.0.2.7:4001", true},
		{"another IPv4", "192.0.2.7:4000", "192.0.2.8:4000", false},
		{"IPv4 and the same address mapped into IPv6", "192.0.2.7:4000", "[::ffff:192.0.2.7]:4001", true},
		{"same IPv6 /64", "[2001:db8:1:2::1]:4000", "[2001:db8:1:2:ffff::9]:4000", true},
		{"another IPv6 /64", "[2001:db8:1:2::1]:4000", "[2001:db8:1:3::1]:4000", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := peerlimit.New(peerlimit.Config{PerToken: 10, PerAddress: 1, AddressSetting: "per-address"})
			first, refused := l.Reserve("", tc.first)
			if refused != nil {
				t.Fatalf("first refused: %+v", refused)
			}
			second, refused := l.Reserve("", tc.second)
			if (refused != nil) != tc.wantRefused {
				t.Fatalf("second refused: %+v, want refused %v", refused, tc.wantRefused)
			}
			if refused == nil {
				second.Release()
			} else if refused.Setting != "per-address" {
				t.Fatalf("refused by %s, want per-address", refused.Setting)
			}
			first.Release()
			if tokens, addrs := l.Held(); tokens != 0 || addrs != 0 {
				t.Fatalf("counts left after every release: %d tokens, %d addresses", tokens, addrs)
			}
			if _, refused := l.Reserve("", tc.second); refused != nil {
				t.Fatalf("refused after the first was released: %+v", refused)
			}
		})
	}
}

// TestLimits_PerToken: a token's holdings are counted whatever address
// they come from, and not at all when tokens are not checked.
func TestLimits_PerToken(t *testing.T) {
	t.Parallel()
	for _, check := range []bool{true, false} {
		l := peerlimit.New(peerlimit.Config{PerToken: 1, PerAddress: 10, CheckTokens: check, TokenSetting: "per-token"})
		first, refused := l.Reserve("a", "192.0.2.1:1")
		if refused != nil {
			t.Fatal(refused)
		}
		_, refused = l.Reserve("a", "192.0.2.2:1")
		if (refused != nil) != check {
			t.Fatalf("checking tokens %v: second holding of a token refused: %+v", check, refused)
		}
		if other, refused := l.Reserve("b", "192.0.2.3:1"); refused != nil {
			t.Fatalf("another token refused: %+v", refused)
		} else {
			other.Release()
		}
		first.Release()
	}
}
