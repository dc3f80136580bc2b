package jwtauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/domain"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	t.Parallel()
	v, err := jwtauth.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	valid, _ := jwtauth.Issue(secret, "dash-1", []string{"billing"}, time.Hour)
	admin, _ := jwtauth.Issue(secret, "ops", []string{"*"}, time.Hour)
	exp := jwt.NewNumericDate(time.Now().Add(time.Hour))
	tests := []struct {
		name     string
		token    string
		code     domain.Code
		mentions string
		scope    domain.Scope
	}{
		{"valid", valid, "", "", domain.Scope{Teams: []string{"billing"}}},
		{"all teams", admin, "", "", domain.Scope{AllTeams: true}},
		{"missing", "", domain.EUnauthorized, "missing", domain.Scope{}},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"x"}, RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Hour))}}), domain.EUnauthorized, "expired", domain.Scope{}},
		{"no expiry", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"x"}}), domain.EUnauthorized, "no expiry", domain.Scope{}},
		{"forged signature", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}}), domain.EUnauthorized, "signature", domain.Scope{}},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}}), domain.EUnauthorized, "signature", domain.Scope{}},
		{"garbage", "not.a.token", domain.EUnauthorized, "malformed", domain.Scope{}},
		{"huge", strings.Repeat("a", 1<<20), domain.EUnauthorized, "too long", domain.Scope{}},
		{"no teams", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}}), domain.EForbidden, "no team", domain.Scope{}},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"x"}, RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp, IssuedAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}), domain.EUnauthorized, "malformed", domain.Scope{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scope, err := v.Verify(tc.token)
			if domain.ErrorCode(err) != tc.code {
				t.Fatalf("Verify = %v, want code %q", err, tc.code)
			}
			if err != nil && !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("error %q does not mention %q", err, tc.mentions)
			}
			if err == nil && (scope.AllTeams != tc.scope.AllTeams || strings.Join(scope.Teams, ",") != strings.Join(tc.scope.Teams, ",")) {
				t.Fatalf("scope %+v, want %+v", scope, tc.scope)
			}
			if err == nil && (scope.Expires.Before(time.Now().Add(59*time.Minute)) || scope.Expires.After(time.Now().Add(time.Hour))) {
				t.Fatalf("scope expires %v, want the token's expiry, an hour from now", scope.Expires)
			}
			if err != nil && len(tc.token) > 10 && strings.Contains(err.Error(), tc.token[:10]) {
				t.Fatal("the error echoes the token")
			}
		})
	}
	if _, err := jwtauth.NewVerifier([]byte("short")); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("a short secret was accepted: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	v, err := jwtauth.NewVerifier(secret)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := jwtauth.Issue(secret, "s", []string{"billing"}, time.Hour)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJ0ZWFtcyI6WyIqIl19.")
	f.Add("...")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		scope, err := v.Verify(token)
		if err != nil {
			if c := domain.ErrorCode(err); c != domain.EUnauthorized && c != domain.EForbidden {
				t.Fatalf("Verify failed with %v, not an auth error", err)
			}
			return
		}
		if !scope.AllTeams && len(scope.Teams) == 0 {
			t.Fatal("an accepted token grants an empty scope")
		}
	})
}

func TestAuthenticator(t *testing.T) {
	t.Parallel()
	open, err := jwtauth.NewAuthenticator("")
	if err != nil || !open.Open() {
		t.Fatalf("an empty secret should mean open access: %v", err)
	}
	if s, err := open.Verify("anything, or nothing"); err != nil || !s.AllTeams {
		t.Fatalf("open access: %+v, %v", s, err)
	}
	if _, err := jwtauth.NewAuthenticator("short"); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("a short secret: %v", err)
	}
	checked, err := jwtauth.NewAuthenticator(string(secret))
	if err != nil || checked.Open() {
		t.Fatalf("a secret should turn checks on: %v", err)
	}
	if _, err := checked.Verify(""); domain.ErrorCode(err) != domain.EUnauthorized {
		t.Fatalf("no token with checks on: %v", err)
	}
	tok, _ := jwtauth.Issue(secret, "t", []string{"billing"}, time.Minute)
	if s, err := checked.Verify(tok); err != nil || s.AllTeams || len(s.Teams) != 1 {
		t.Fatalf("a valid token: %+v, %v", s, err)
	}
	for _, bad := range []struct {
		teams []string
		ttl   time.Duration
	}{{nil, time.Hour}, {[]string{"x"}, 0}} {
		if _, err := jwtauth.Issue(secret, "t", bad.teams, bad.ttl); domain.ErrorCode(err) != domain.EInvalid {
			t.Fatalf("Issue(%v, %v) = %v, want EInvalid", bad.teams, bad.ttl, err)
		}
	}
}
