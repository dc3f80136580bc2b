package peerlimit

import "testing"

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
