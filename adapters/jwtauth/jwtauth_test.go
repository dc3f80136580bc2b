package jwtauth_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/domain"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// previous is the secret a rotation replaces: still accepted beside secret.
var previous = []byte("previous-secret-previous-secret-")

func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signRaw signs payload exactly as written, so that tests can send JSON the
// jwt library would never write: duplicate keys, dates as strings, claim
// names in another case.
func signRaw(t testing.TB, key []byte, payload string) string {
	t.Helper()
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	unsigned := head + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(unsigned, key)
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func aud() jwt.ClaimStrings { return jwt.ClaimStrings{jwtauth.DefaultAudience} }

func TestVerify(t *testing.T) {
	t.Parallel()
	v, err := jwtauth.NewVerifier(jwtauth.Config{Secrets: []string{string(secret), string(previous)}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid, _ := jwtauth.Issue(secret, "dash-1", []string{"billing"}, time.Hour)
	admin, _ := jwtauth.Issue(secret, "ops", []string{"*"}, time.Hour)
	old, _ := jwtauth.Issue(previous, "dash-2", []string{"billing"}, time.Hour)
	exp := jwt.NewNumericDate(now.Add(time.Hour))
	iat, expN := now.Unix(), now.Add(time.Hour).Unix()
	raw := func(format string, args ...any) string {
		return signRaw(t, secret, strings.NewReplacer("$E", itoa(expN), "$I", itoa(iat)).Replace(format))
	}
	tests := []struct {
		name     string
		token    string
		code     domain.Code
		mentions string
		scope    domain.Scope
	}{
		{"valid", valid, "", "", domain.Scope{Teams: []string{"billing"}}},
		{"all teams", admin, "", "", domain.Scope{AllTeams: true}},
		{"signed with the previous secret during a rotation", old, "", "", domain.Scope{Teams: []string{"billing"}}},
		{"missing", "", domain.EUnauthorized, "missing", domain.Scope{}},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"x"}, RegisteredClaims: jwt.RegisteredClaims{Audience: aud(), ExpiresAt: jwt.NewNumericDate(now.Add(-time.Hour))}}), domain.EUnauthorized, "expired", domain.Scope{}},
		{"no expiry", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"x"}, RegisteredClaims: jwt.RegisteredClaims{Audience: aud()}}), domain.EUnauthorized, "no expiry", domain.Scope{}},
		{"forged signature", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{Audience: aud(), ExpiresAt: exp}}), domain.EUnauthorized, "signature", domain.Scope{}},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{Audience: aud(), ExpiresAt: exp}}), domain.EUnauthorized, "signature", domain.Scope{}},
		{"garbage", "not.a.token", domain.EUnauthorized, "malformed", domain.Scope{}},
		{"huge", strings.Repeat("a", 1<<20), domain.EUnauthorized, "too long", domain.Scope{}},
		{"no teams", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{RegisteredClaims: jwt.RegisteredClaims{Audience: aud(), ExpiresAt: exp}}), domain.EForbidden, "no team", domain.Scope{}},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"x"}, RegisteredClaims: jwt.RegisteredClaims{Audience: aud(), ExpiresAt: exp, IssuedAt: jwt.NewNumericDate(now.Add(time.Hour))}}), domain.EUnauthorized, "future", domain.Scope{}},
		{"no audience", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}}), domain.EUnauthorized, "audience", domain.Scope{}},
		{"another audience", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{Audience: jwt.ClaimStrings{"billing-api"}, ExpiresAt: exp}}), domain.EUnauthorized, "audience", domain.Scope{}},
		{"one of several audiences", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"x"}, RegisteredClaims: jwt.RegisteredClaims{Audience: jwt.ClaimStrings{"other", jwtauth.DefaultAudience}, ExpiresAt: exp}}), "", "", domain.Scope{Teams: []string{"x"}}},
		{"expiry in the year 9000", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{Audience: aud(), IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC))}}), domain.EUnauthorized, "maximum", domain.Scope{}},
		{"31 days without iat", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{Audience: aud(), ExpiresAt: jwt.NewNumericDate(now.Add(31 * 24 * time.Hour))}}), domain.EUnauthorized, "maximum", domain.Scope{}},
		{"31 days from an old iat", sign(t, jwt.SigningMethodHS256, secret, jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{Audience: aud(), IssuedAt: jwt.NewNumericDate(now.Add(-30 * 24 * time.Hour)), ExpiresAt: exp}}), domain.EUnauthorized, "maximum", domain.Scope{}},
		{"exp as a string", raw(`{"aud":"ticketstream","exp":"$E","teams":["*"]}`), domain.EUnauthorized, `"exp" must be a number`, domain.Scope{}},
		{"iat as a string", raw(`{"aud":"ticketstream","exp":$E,"iat":"$I","teams":["*"]}`), domain.EUnauthorized, `"iat" must be a number`, domain.Scope{}},
		{"nbf as a string", raw(`{"aud":"ticketstream","exp":$E,"nbf":"$I","teams":["*"]}`), domain.EUnauthorized, `"nbf" must be a number`, domain.Scope{}},
		{"Teams in another case", raw(`{"aud":"ticketstream","exp":$E,"Teams":["*"]}`), domain.EUnauthorized, "case-sensitive", domain.Scope{}},
		{"teams beside TEAMS", raw(`{"aud":"ticketstream","exp":$E,"teams":["x"],"TEAMS":["*"]}`), domain.EUnauthorized, "case-sensitive", domain.Scope{}},
		{"EXP in another case", raw(`{"aud":"ticketstream","EXP":$E,"exp":$E,"teams":["x"]}`), domain.EUnauthorized, "case-sensitive", domain.Scope{}},
		{"duplicate teams", raw(`{"aud":"ticketstream","exp":$E,"teams":["x"],"teams":["*"]}`), domain.EUnauthorized, `duplicate claim "teams"`, domain.Scope{}},
		{"duplicate exp", raw(`{"aud":"ticketstream","exp":$E,"exp":99999999999,"teams":["x"]}`), domain.EUnauthorized, `duplicate claim "exp"`, domain.Scope{}},
		{"duplicate key nested", raw(`{"aud":"ticketstream","exp":$E,"teams":["x"],"ext":{"a":1,"a":2}}`), domain.EUnauthorized, "duplicate", domain.Scope{}},
		{"an unknown claim is fine", raw(`{"aud":"ticketstream","exp":$E,"teams":["x"],"name":"Ann"}`), "", "", domain.Scope{Teams: []string{"x"}}},
		{"two objects", raw(`{"aud":"ticketstream","exp":$E,"teams":["x"]}{}`), domain.EUnauthorized, "", domain.Scope{}},
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
			if err == nil && (scope.Expires.Before(now.Add(59*time.Minute)) || scope.Expires.After(now.Add(time.Hour+time.Second))) {
				t.Fatalf("scope expires %v, want the token's expiry, an hour from now", scope.Expires)
			}
			if err != nil && len(tc.token) > 10 && strings.Contains(err.Error(), tc.token[:10]) {
				t.Fatal("the error echoes the token")
			}
		})
	}
	if _, err := jwtauth.NewVerifier(jwtauth.Config{Secrets: []string{"short"}}); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("a short secret was accepted: %v", err)
	}
	if _, err := jwtauth.NewVerifier(jwtauth.Config{Secrets: []string{string(secret)}, MaxLifetime: -time.Hour}); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("a negative lifetime was accepted: %v", err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestVerify_Policy: the audience and issuer are settable, the issuer is
// checked only when set, and the maximum lifetime follows its setting.
func TestVerify_Policy(t *testing.T) {
	t.Parallel()
	strict := jwtauth.Config{Secrets: []string{string(secret)}, Audience: "ops-board", Issuer: "https://auth.example", MaxLifetime: 2 * time.Hour}
	v, err := jwtauth.NewVerifier(strict)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := jwtauth.IssueToken(strict, jwtauth.Grant{Subject: "s", Teams: []string{"x"}, TTL: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ok); err != nil {
		t.Fatalf("a token issued under the policy: %v", err)
	}
	defaultAud, _ := jwtauth.Issue(secret, "s", []string{"x"}, time.Hour)
	if _, err := v.Verify(defaultAud); err == nil || !strings.Contains(err.Error(), `"ops-board"`) {
		t.Fatalf("the default audience under another: %v", err)
	}
	otherIss := strict
	otherIss.Issuer = "https://evil.example"
	bad, _ := jwtauth.IssueToken(otherIss, jwtauth.Grant{Teams: []string{"x"}, TTL: time.Hour})
	if _, err := v.Verify(bad); err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Fatalf("another issuer: %v", err)
	}
	noIss := strict
	noIss.Issuer = ""
	bad, _ = jwtauth.IssueToken(noIss, jwtauth.Grant{Teams: []string{"x"}, TTL: time.Hour})
	if _, err := v.Verify(bad); err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Fatalf("no issuer where one is required: %v", err)
	}
	if _, err := jwtauth.IssueToken(strict, jwtauth.Grant{Teams: []string{"x"}, TTL: 3 * time.Hour}); domain.ErrorCode(err) != domain.EInvalid || !strings.Contains(err.Error(), "maximum lifetime") {
		t.Fatalf("issuing beyond the maximum lifetime: %v", err)
	}
	// Without an issuer setting, a token's iss is not checked.
	lax, _ := jwtauth.NewVerifier(jwtauth.Config{Secrets: []string{string(secret)}, Audience: "ops-board"})
	if _, err := lax.Verify(ok); err != nil {
		t.Fatalf("an iss claim without an issuer setting: %v", err)
	}
}

func TestAuthenticator(t *testing.T) {
	t.Parallel()
	open, err := jwtauth.NewAuthenticator(jwtauth.Config{})
	if err != nil || !open.Open() {
		t.Fatalf("no secret should mean open access: %v", err)
	}
	if s, err := open.Verify("anything, or nothing"); err != nil || !s.AllTeams {
		t.Fatalf("open access: %+v, %v", s, err)
	}
	if _, err := jwtauth.NewAuthenticator(jwtauth.Config{Secrets: []string{"short"}}); domain.ErrorCode(err) != domain.EInvalid {
		t.Fatalf("a short secret: %v", err)
	}
	checked, err := jwtauth.NewAuthenticator(jwtauth.Config{Secrets: []string{string(secret)}})
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
	}{{nil, time.Hour}, {[]string{"x"}, 0}, {[]string{"x"}, 500 * time.Millisecond}, {[]string{"x"}, 31 * 24 * time.Hour}} {
		if _, err := jwtauth.Issue(secret, "t", bad.teams, bad.ttl); domain.ErrorCode(err) != domain.EInvalid {
			t.Fatalf("Issue(%v, %v) = %v, want EInvalid", bad.teams, bad.ttl, err)
		}
	}
}
