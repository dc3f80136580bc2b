package jwtauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func TestConfig_ZeroMeansTheDefault(t *testing.T) {
	t.Parallel()
	got, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got.Audience != DefaultAudience || got.MaxLifetime != DefaultMaxLifetime || got.Secrets != nil || got.Issuer != "" {
		t.Fatalf("zero config = %+v, want the defaults", got)
	}
}

func TestConfig_ValidateNamesTheBadSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   Config
		param string
	}{
		{"negative lifetime", Config{MaxLifetime: -time.Hour}, "jwt-max-lifetime"},
		{"blank audience", Config{Audience: "  "}, "jwt-audience"},
		{"short secret", Config{Secrets: []string{strings.Repeat("s", MinSecretLen), "short"}}, "jwt-secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewAuthenticator(tc.cfg)
			for _, err := range []error{tc.cfg.Validate(), err} {
				var derr *domain.Error
				if !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != tc.param {
					t.Fatalf("err = %v, want EInvalid naming %q", err, tc.param)
				}
			}
		})
	}
}
