package e2e_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream/adapters/jwtauth"
)

func jwtNumericDate(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }

func signClaims(t *testing.T, c jwtauth.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
