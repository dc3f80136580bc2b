package jwtauth

import "github.com/ticketstream/ticketstream/domain"

// Authenticator is the server's token policy: tokens checked by a Verifier,
// or — when no secret is configured — open access, where every request sees
// every team. The server allows open access only on a loopback address.
type Authenticator struct {
	v *Verifier
}

// NewAuthenticator checks tokens under cfg; no secret means open access.
func NewAuthenticator(cfg Config) (*Authenticator, error) {
	if len(cfg.Secrets) == 0 {
		if _, err := cfg.withDefaults(); err != nil {
			return nil, err
		}
		return &Authenticator{}, nil
	}
	v, err := NewVerifier(cfg)
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
