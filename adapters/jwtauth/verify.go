package jwtauth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream/domain"
)

// leeway is the clock skew allowed between the issuer and this server.
const leeway = 30 * time.Second

// maxTokenLen bounds what is parsed at all: a real token is a few hundred bytes.
const maxTokenLen = 8 << 10

// teamsProblem says what is wrong with the named teams a token grants, or
// "" when nothing is. A team granted must be one a query could name: the
// grant is written into every query of its holder. IssueToken checks the
// same, so that it never signs a token the server refuses.
func teamsProblem(teams []string) string {
	if len(teams) > domain.MaxFilterValues {
		return fmt.Sprintf("grants %d teams, at most %d", len(teams), domain.MaxFilterValues)
	}
	for _, t := range teams {
		if t == "" || len(t) > domain.MaxNameLen || !utf8.ValidString(t) || strings.IndexFunc(t, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return "has an invalid team"
		}
	}
	return ""
}

// Verifier checks tokens under one policy. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	keys   jwt.VerificationKeySet
	parser *jwt.Parser
}

// NewVerifier returns a Verifier for cfg, which must hold at least one
// secret.
func NewVerifier(cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(cfg.Secrets) == 0 {
		return nil, domain.Invalidf("jwt-secret", "is required to check tokens")
	}
	cfg.Secrets = slices.Clone(cfg.Secrets)
	var keys jwt.VerificationKeySet
	for _, s := range cfg.Secrets {
		keys.Keys = append(keys.Keys, []byte(s))
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithAudience(cfg.Audience),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	return &Verifier{cfg: cfg, keys: keys, parser: jwt.NewParser(opts...)}, nil
}

// Verify checks token and returns the scope it grants. Every failure is an
// EUnauthorized error whose message says what was wrong (expired, bad
// signature, wrong audience, too long-lived, malformed) without echoing the
// token.
func (v *Verifier) Verify(token string) (domain.Scope, error) {
	if token == "" {
		return domain.Scope{}, unauthorized("missing bearer token")
	}
	if len(token) > maxTokenLen {
		return domain.Scope{}, unauthorized("token too long")
	}
	var claims Claims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.keys, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return domain.Scope{}, unauthorized("token signature is invalid")
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrTokenUnverifiable):
		// The signature was never checked: nothing more is said of it.
		return domain.Scope{}, unauthorized("malformed token")
	}
	if strictErr := checkHeader(token); strictErr != nil {
		return domain.Scope{}, strictErr
	}
	// The signature holds: from here the token is the issuer's own, and the
	// reasons it is refused can be told. The strict reading of its JSON
	// comes first, since the library's reading is lenient (a date as a
	// string, a claim name in any case, the last of duplicate keys).
	if strictErr := checkPayload(token); strictErr != nil {
		return domain.Scope{}, strictErr
	}
	switch {
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims.ExpiresAt == nil:
		return domain.Scope{}, unauthorized("token has no expiry")
	case errors.Is(err, jwt.ErrTokenExpired):
		return domain.Scope{}, unauthorized("token expired")
	case errors.Is(err, jwt.ErrTokenInvalidAudience), errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && len(claims.Audience) == 0:
		return domain.Scope{}, unauthorized(fmt.Sprintf("token audience is not %q", v.cfg.Audience))
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims.Issuer == "":
		return domain.Scope{}, unauthorized(fmt.Sprintf("token issuer is not %q", v.cfg.Issuer))
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return domain.Scope{}, unauthorized("token issued in the future")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return domain.Scope{}, unauthorized("token not valid yet")
	case err != nil:
		return domain.Scope{}, unauthorized("malformed or unacceptable token")
	}
	expires := claims.ExpiresAt.Time // required by the parser
	if err := v.checkLifetime(claims, time.Now()); err != nil {
		return domain.Scope{}, err
	}
	if slices.Contains(claims.Teams, AllTeams) {
		return domain.Scope{AllTeams: true, Expires: expires}, nil
	}
	if len(claims.Teams) == 0 {
		return domain.Scope{}, &domain.Error{Code: domain.EForbidden, Message: "token grants no team"}
	}
	if problem := teamsProblem(claims.Teams); problem != "" {
		return domain.Scope{}, unauthorized("token " + problem)
	}
	return domain.Scope{Teams: slices.Clone(claims.Teams), Expires: expires}, nil
}

// checkLifetime refuses a token valid for longer than the policy allows:
// from its iat, or from now when it has none (a token without iat could
// otherwise claim any expiry).
func (v *Verifier) checkLifetime(c Claims, now time.Time) error {
	from, what := now, "from now"
	if c.IssuedAt != nil {
		from, what = c.IssuedAt.Time, "from its issue"
	}
	if life := c.ExpiresAt.Sub(from); life > v.cfg.MaxLifetime {
		return unauthorized(fmt.Sprintf("token lifetime %s %s is longer than the maximum %s: issue a shorter one",
			roundLifetime(life), what, v.cfg.MaxLifetime))
	}
	return nil
}

// roundLifetime prints a lifetime in whole hours when it is that long.
func roundLifetime(d time.Duration) string {
	if d >= time.Hour {
		return strings.TrimSuffix(d.Round(time.Hour).String(), "0m0s")
	}
	return d.Round(time.Second).String()
}
