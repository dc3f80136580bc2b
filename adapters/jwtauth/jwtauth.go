// Package jwtauth checks the bearer tokens of dashboards and scripts: JWTs
// signed with HS256 under a shared secret, carrying an audience, an expiry
// and the teams their holder may see. github.com/golang-jwt/jwt/v5 does the
// parsing and signature checks; this package adds the policy ticketstream
// needs on top (audience, issuer, a maximum lifetime, numeric dates,
// exact-case and unique claim names, secrets that rotate) and maps every
// failure to a domain error.
package jwtauth

import (
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream/domain"
)

// AllTeams in a token's teams claim grants every team.
const AllTeams = "*"

// MinSecretLen is the shortest secret accepted: HS256 wants at least the
// hash's 32 bytes of key.
const MinSecretLen = 32

// Defaults of Config.
const (
	DefaultAudience    = "ticketstream"
	DefaultMaxLifetime = 30 * 24 * time.Hour
)

// Claims are a ticketstream token's claims.
type Claims struct {
	// Teams the holder may see; ["*"] for all.
	Teams []string `json:"teams"`
	jwt.RegisteredClaims
}

// Config is the token policy.
type Config struct {
	// Secrets verify tokens: a token signed with any of them is accepted,
	// so that during a rotation tokens of the next and of the previous
	// secret both work. The first one signs (Issue). Each is at least
	// MinSecretLen bytes. An Authenticator without secrets is open access.
	Secrets []string
	// Audience must be in every token's aud claim, so that a token signed
	// with the same secret for another purpose is not taken for a
	// dashboard's. Empty: DefaultAudience.
	Audience string
	// Issuer, when set, must be every token's iss claim. Empty: not checked.
	Issuer string
	// MaxLifetime is the longest a token may be valid: exp − iat, or
	// exp − now for a token without iat. A longer token is refused, so that
	// a leaked token is not good for ever. Zero: DefaultMaxLifetime;
	// negative is an error.
	MaxLifetime time.Duration
}

// Validate reports a setting no Authenticator can use, naming it: zero
// means the default, a negative MaxLifetime is an error, and so are a
// secret shorter than MinSecretLen and an audience of white space only.
func (c Config) Validate() error {
	if c.MaxLifetime < 0 {
		return domain.Invalidf("jwt-max-lifetime", "must be 0 (the default) or a positive duration, got %s", c.MaxLifetime)
	}
	if c.Audience != "" && strings.TrimSpace(c.Audience) == "" {
		return domain.Invalidf("jwt-audience", "must be a name, or empty for the default %q", DefaultAudience)
	}
	for _, s := range c.Secrets {
		if len(s) < MinSecretLen {
			return domain.Invalidf("jwt-secret", "must be at least %d bytes, got %d", MinSecretLen, len(s))
		}
	}
	return nil
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	return c, nil
}

func unauthorized(msg string) *domain.Error {
	return &domain.Error{Code: domain.EUnauthorized, Message: msg}
}
