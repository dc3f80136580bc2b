// Package bearer is the one place where an HTTP request's bearer token is
// read and the one interface that turns it into a scope, shared by the REST
// routes and the WebSocket gateway so that both accept exactly the same
// Authorization headers.
package bearer

import (
	"net/http"
	"strings"

	"github.com/ticketstream/ticketstream/domain"
)

// Verifier turns a bearer token into the scope it grants. A verifier that
// may check no token at all also implements OpenAccess.
type Verifier interface {
	Verify(token string) (domain.Scope, error)
}

// OpenAccess is what a Verifier that checks no token at all (a server
// without a token secret, allowed on loopback only) also implements, with
// Open reporting true: every request then gets the same scope whatever
// token it carries, so a per-token limit would count only what the client
// chose to write.
type OpenAccess interface {
	Open() bool
}

// ChecksTokens reports whether v checks tokens, that is whether a token
// identifies its holder.
func ChecksTokens(v Verifier) bool {
	open, ok := v.(OpenAccess)
	return !ok || !open.Open()
}

// FromHeader returns the token of r's Authorization header. present is
// false when r has no such header; a header that is not "Bearer <token>"
// is an EUnauthorized error. The scheme is matched without regard to case,
// as RFC 7235 has it ("bearer", "BEARER"), and the token is trimmed. A
// scheme without a token gives the empty token, which the verifier refuses
// as missing (or accepts, under open access).
func FromHeader(r *http.Request) (token string, present bool, err error) {
	values := r.Header.Values("Authorization")
	if len(values) > 1 {
		// A proxy that reads the other one would authorize another client.
		return "", true, &domain.Error{Code: domain.EUnauthorized, Message: "one Authorization header, not several"}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	token = strings.TrimSpace(rest)
	if !strings.EqualFold(scheme, "Bearer") || strings.ContainsAny(token, " \t") {
		return "", true, &domain.Error{Code: domain.EUnauthorized, Message: `Authorization must be "Bearer <token>"`}
	}
	return token, true, nil
}
