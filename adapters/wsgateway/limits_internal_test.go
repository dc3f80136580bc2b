package wsgateway

import "testing"

// TestConnLimits_AddressKeys: one IPv4 address, or one IPv6 /64, is one
// client; an IPv4 address mapped into IPv6 is the same client as itself.
func TestConnLimits_AddressKeys(t *testing.T) {
	tests := []struct {
		name        string
		first       string // RemoteAddr of the socket that takes the only place
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
			l := newConnLimits(Options{MaxConnectionsPerToken: 10, MaxConnectionsPerAddress: 1}, false)
			first, refused := l.reserve("", tc.first)
			if refused != nil {
				t.Fatalf("first socket refused: %+v", refused)
			}
			second, refused := l.reserve("", tc.second)
			if (refused != nil) != tc.wantRefused {
				t.Fatalf("second socket refused: %+v, want refused %v", refused, tc.wantRefused)
			}
			if refused == nil {
				second.release()
			} else if refused.setting != "max-connections-per-address" {
				t.Fatalf("refused by %s, want max-connections-per-address", refused.setting)
			}
			first.release()
			if len(l.byAddress) != 0 || len(l.byToken) != 0 {
				t.Fatalf("counts left after every release: %v %v", l.byAddress, l.byToken)
			}
			if _, refused := l.reserve("", tc.second); refused != nil {
				t.Fatalf("refused after the first socket was released: %+v", refused)
			}
		})
	}
}

// TestTokenKey_SpellingsOfOneTokenAreOneToken: base64url leaves the last
// character's unused bits free; every spelling of a token is that token.
func TestTokenKey_SpellingsOfOneTokenAreOneToken(t *testing.T) {
	t.Parallel()
	// "AQ" and "AR" both decode to the byte 0x01 (non-strictly).
	a, b := tokenKey("eyJhbGciOiJIUzI1NiJ9.e30.AQ"), tokenKey("eyJhbGciOiJIUzI1NiJ9.e30.AR")
	if a != b {
		t.Fatal("two spellings of one signature count as two tokens")
	}
	if a == tokenKey("eyJhbGciOiJIUzI1NiJ9.e30.Ag") {
		t.Fatal("two signatures count as one token")
	}
	if tokenKey("not a token") == tokenKey("not a token!") {
		t.Fatal("undecodable tokens collide")
	}
}
