package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ticketstream/ticketstream/adapters/jwtauth"
)

// tokenPolicy is the token settings that `serve` and `token` share, under
// the same names and environment variables, so that one environment gives
// both the same policy.
type tokenPolicy struct {
	secret, secretFile string
	cfg                jwtauth.Config
}

func (p *tokenPolicy) register(s *settings, secretUsage string) {
	s.String(&p.secret, "jwt-secret", "", secretUsage+" (visible in ps: prefer --jwt-secret-file or the environment variable)")
	s.String(&p.secretFile, "jwt-secret-file", "", "file of HS256 secrets, one per line: the first signs, every one is accepted (put the next and the previous secret there to rotate without logging anyone out)")
	s.String(&p.cfg.Audience, "jwt-audience", jwtauth.DefaultAudience, "audience every token must carry in its aud claim")
	s.String(&p.cfg.Issuer, "jwt-issuer", "", "issuer every token must carry in its iss claim; empty: not checked")
	s.Duration(&p.cfg.MaxLifetime, "jwt-max-lifetime", jwtauth.DefaultMaxLifetime, "longest a token may be valid (exp − iat); a longer token is refused")
}

// policy checks the settings and reads the secret file: the policy, with no
// secret when none was given.
func (p *tokenPolicy) policy() (jwtauth.Config, error) {
	cfg := p.cfg
	if err := checkSettings([]check{
		{"jwt-secret", p.secret != "" && p.secretFile != "", "empty when --jwt-secret-file is given (give one of them)"},
	}); err != nil {
		return cfg, err
	}
	switch {
	case p.secret != "":
		cfg.Secrets = []string{p.secret}
	case p.secretFile != "":
		secrets, err := readSecretFile(p.secretFile)
		if err != nil {
			return cfg, err
		}
		cfg.Secrets = secrets
	}
	return cfg, settingError(cfg.Validate())
}

// readSecretFile reads one secret per line, skipping blank lines: every
// other line is a secret (one may well start with #). The error never
// quotes the file's content.
func readSecretFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --jwt-secret-file (%s): %v", errUsage, envName("jwt-secret-file"), err)
	}
	var secrets []string
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(line) < jwtauth.MinSecretLen {
			return nil, fmt.Errorf("%w: --jwt-secret-file (%s): the secret on line %d has %d bytes, want at least %d",
				errUsage, envName("jwt-secret-file"), i+1, len(line), jwtauth.MinSecretLen)
		}
		secrets = append(secrets, line)
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: --jwt-secret-file (%s): %s holds no secret", errUsage, envName("jwt-secret-file"), path)
	}
	return secrets, nil
}

// defaultTokenTTL is what `token` issues unless told otherwise.
const defaultTokenTTL = 24 * time.Hour
