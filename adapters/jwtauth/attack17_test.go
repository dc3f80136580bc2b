package jwtauth_test

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream/adapters/jwtauth"
)

// signWithHeader signs payload under a header written exactly as given.
func signWithHeader(t *testing.T, header, payload string) string {
	t.Helper()
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(unsigned, secret)
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestAttack17_StrictReadingStopsAtThePayload: the strict reading
// (duplicates refused, no claim the server cannot honour) covers the
// payload only. The header's duplicate "alg" (the library keeps the last,
// another reader the first) and a "crit" header naming an extension this
// server does not implement (RFC 7515 4.1.11: must be refused) are
// accepted; a team with a NUL byte or more teams than a query may name
// pass Verify and fail later as a 400 about a "team" parameter the client
// never sent.
func TestAttack17_StrictReadingStopsAtThePayload(t *testing.T) {
	v, err := jwtauth.NewVerifier(jwtauth.Config{Secrets: []string{string(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	payload := fmt.Sprintf(`{"teams":["billing"],"aud":"ticketstream","exp":%d}`, exp)
	many := `"t0"`
	for i := 1; i < 100; i++ {
		many += fmt.Sprintf(`,"t%d"`, i)
	}
	for _, tc := range []struct{ name, header, payload string }{
		{"duplicate alg in header", `{"alg":"none","alg":"HS256"}`, payload},
		{"crit header", `{"alg":"HS256","crit":["b64"],"b64":false}`, payload},
		{"team with a NUL byte", `{"alg":"HS256"}`, fmt.Sprintf(`{"teams":["billing\u0000"],"aud":"ticketstream","exp":%d}`, exp)},
		{"100 teams", `{"alg":"HS256"}`, fmt.Sprintf(`{"teams":[%s],"aud":"ticketstream","exp":%d}`, many, exp)},
	} {
		if _, err := v.Verify(signWithHeader(t, tc.header, tc.payload)); err == nil {
			t.Errorf("%s: accepted, want refused", tc.name)
		}
	}
}
