package jwtauth

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream/domain"
)

// Grant is what a token is issued for.
type Grant struct {
	// Subject is who the token is for (its sub claim).
	Subject string
	// Teams the token may see; ["*"] for all.
	Teams []string
	// TTL is how long from now the token is valid; at most the policy's
	// MaxLifetime.
	TTL time.Duration
}

// IssueToken signs a token for g under cfg: its first secret, its audience
// and issuer. What the server would refuse is refused here: a TTL beyond
// cfg's MaxLifetime, teams no query could name (more than
// domain.MaxFilterValues, or an invalid name) and a token longer than the
// server reads.
func IssueToken(cfg Config, g Grant) (string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return "", err
	}
	switch {
	case len(cfg.Secrets) == 0:
		return "", domain.Invalidf("jwt-secret", "is required to sign a token")
	case len(g.Teams) == 0:
		return "", domain.Invalidf("teams", "give at least one team, or * for all")
	case slices.Contains(g.Teams, AllTeams) && len(g.Teams) > 1:
		return "", domain.Invalidf("teams", "* grants every team: give it alone")
	case !slices.Contains(g.Teams, AllTeams) && teamsProblem(g.Teams) != "":
		return "", domain.Invalidf("teams", "the token %s: at most %d teams, each at most %d bytes of UTF-8 without control characters",
			teamsProblem(g.Teams), domain.MaxFilterValues, domain.MaxNameLen)
	case g.TTL < time.Second:
		// The claims hold whole seconds: a shorter TTL signs exp = iat.
		return "", domain.Invalidf("ttl", "must be at least 1s: a token's times are whole seconds")
	case !utf8.ValidString(g.Subject):
		// JSON would carry it as U+FFFD: the token would not say who.
		return "", domain.Invalidf("subject", "is not valid UTF-8")
	case g.TTL > cfg.MaxLifetime:
		return "", domain.Invalidf("ttl", "%s is longer than the maximum lifetime %s (raise --jwt-max-lifetime on the server and here)", g.TTL, cfg.MaxLifetime)
	}
	// The claims hold whole seconds: from a whole second, exp-iat never
	// passes the TTL, which the server checks against its MaxLifetime.
	now := time.Now().Truncate(time.Second)
	claims := Claims{Teams: g.Teams, RegisteredClaims: jwt.RegisteredClaims{
		Subject: g.Subject, Audience: jwt.ClaimStrings{cfg.Audience}, Issuer: cfg.Issuer,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(g.TTL)),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(cfg.Secrets[0]))
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	if len(s) > maxTokenLen {
		return "", domain.Invalidf("subject", "the token would be %d bytes, more than the %d the server reads: shorten the subject or the teams", len(s), maxTokenLen)
	}
	return s, nil
}

// Issue signs a token for subject that grants teams (["*"] for all) until
// ttl from now, with secret and the default audience: what a test or a
// script that knows only the secret needs.
func Issue(secret []byte, subject string, teams []string, ttl time.Duration) (string, error) {
	return IssueToken(Config{Secrets: []string{string(secret)}}, Grant{Subject: subject, Teams: teams, TTL: ttl})
}
