// Package jwtauth checks the bearer tokens of dashboards and scripts: JWTs
// signed with HS256 under a shared secret, carrying an expiry and the teams
// their holder may see. github.com/golang-jwt/jwt/v5 does the parsing and
// signature checks; this package adds the claims ticketstream needs and maps
// every failure to a domain error.
package jwtauth

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream/domain"
)

// AllTeams in a token's teams claim grants every team.
const AllTeams = "*"

// MinSecretLen is the shortest secret accepted: HS256 wants at least the
// hash's 32 bytes of key.
const MinSecretLen = 32

// Claims are a ticketstream token's claims.
type Claims struct {
	// Teams the holder may see; ["*"] for all.
	Teams []string `json:"teams"`
	jwt.RegisteredClaims
}

// Verifier checks tokens signed with one secret. It is safe for concurrent use.
type Verifier struct {
	secret []byte
	parser *jwt.Parser
}

// NewVerifier returns a Verifier for secret, which must be at least
// MinSecretLen bytes.
func NewVerifier(secret []byte) (*Verifier, error) {
	if len(secret) < MinSecretLen {
		return nil, domain.Invalidf("jwt-secret", "must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	return &Verifier{
		secret: slices.Clone(secret),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(30*time.Second),
		),
	}, nil
}

// maxTokenLen bounds what is parsed at all: a real token is a few hundred bytes.
const maxTokenLen = 8 << 10

// Verify checks token and returns the scope it grants. Every failure is an
// EUnauthorized error whose message says what was wrong (expired, bad
// signature, malformed) without echoing the token.
func (v *Verifier) Verify(token string) (domain.Scope, error) {
	if token == "" {
		return domain.Scope{}, unauthorized("missing bearer token")
	}
	if len(token) > maxTokenLen {
		return domain.Scope{}, unauthorized("token too long")
	}
	var claims Claims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return domain.Scope{}, unauthorized("token expired")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return domain.Scope{}, unauthorized("token signature is invalid")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return domain.Scope{}, unauthorized("token has no expiry")
	case err != nil:
		return domain.Scope{}, unauthorized("malformed or unacceptable token")
	}
	expires := claims.ExpiresAt.Time // required by the parser
	if slices.Contains(claims.Teams, AllTeams) {
		return domain.Scope{AllTeams: true, Expires: expires}, nil
	}
	if len(claims.Teams) == 0 {
		return domain.Scope{}, &domain.Error{Code: domain.EForbidden, Message: "token grants no team"}
	}
	for _, t := range claims.Teams {
		if t == "" || len(t) > domain.MaxNameLen {
			return domain.Scope{}, unauthorized("token has an invalid team")
		}
	}
	return domain.Scope{Teams: slices.Clone(claims.Teams), Expires: expires}, nil
}

func unauthorized(msg string) *domain.Error {
	return &domain.Error{Code: domain.EUnauthorized, Message: msg}
}

// Issue signs a token for subject that grants teams (["*"] for all) until
// ttl from now: what `ticketstream token` hands to a dashboard.
func Issue(secret []byte, subject string, teams []string, ttl time.Duration) (string, error) {
	if len(secret) < MinSecretLen {
		return "", domain.Invalidf("jwt-secret", "must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	if len(teams) == 0 {
		return "", domain.Invalidf("teams", "give at least one team, or * for all")
	}
	if ttl <= 0 {
		return "", domain.Invalidf("ttl", "must be positive")
	}
	now := time.Now()
	claims := Claims{Teams: teams, RegisteredClaims: jwt.RegisteredClaims{
		Subject: subject, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// Authenticator is the server's token policy: tokens checked by a Verifier,
// or — when no secret is configured — open access, where every request sees
// every team. The server allows open access only on a loopback address.
type Authenticator struct {
	v *Verifier
}

// NewAuthenticator checks tokens against secret; an empty secret means open
// access.
func NewAuthenticator(secret string) (*Authenticator, error) {
	if secret == "" {
		return &Authenticator{}, nil
	}
	v, err := NewVerifier([]byte(secret))
	if err != nil {
		return nil, err
	}
	return &Authenticator{v: v}, nil
}

// Open reports whether tokens are not checked.
func (a *Authenticator) Open() bool { return a.v == nil }

// Verify returns the token's scope, or every team under open access.
func (a *Authenticator) Verify(token string) (domain.Scope, error) {
	if a.v == nil {
		return domain.Scope{AllTeams: true}, nil
	}
	return a.v.Verify(token)
}
