package e2e

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream/adapters/jwtauth"
)

// SignClaims returns c signed with Secret, the token secret of servers
// started with auth on: a token with exactly the claims a test needs,
// valid or not.
func SignClaims(tb testing.TB, c jwtauth.Claims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(Secret))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
