package jwtauth_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/domain"
)

// IssueToken signs only tokens the server accepts: what the server would
// refuse — more teams than a query may name, a team no query could name,
// "*" beside named teams, a token longer than the server reads — is
// refused when it is signed, with the reason, not when a dashboard first
// connects.
func TestIssueToken_NeverSignsATokenTheServerRefuses(t *testing.T) {
	t.Parallel()
	teams := func(n int) []string {
		l := make([]string, n)
		for i := range l {
			l[i] = fmt.Sprintf("team-%d", i)
		}
		return l
	}
	tests := []struct {
		name    string
		subject string
		teams   []string
		refused string // what the refusal says; "" when the token is signed
	}{
		{"one team", "dashboard", []string{"billing"}, ""},
		{"all teams", "dashboard", []string{"*"}, ""},
		{"as many teams as a query names", "dashboard", teams(domain.MaxFilterValues), ""},
		{"one team more", "dashboard", teams(domain.MaxFilterValues + 1), "at most 64"},
		{"a team with a control character", "dashboard", []string{"bill\ning"}, "invalid team"},
		{"a team too long to name", "dashboard", []string{strings.Repeat("t", domain.MaxNameLen+1)}, "invalid team"},
		{"a team as long as a name may be", "dashboard", []string{strings.Repeat("t", domain.MaxNameLen)}, ""},
		{"* beside a team", "dashboard", []string{"*", "billing"}, "alone"},
		{"a team that is not UTF-8", "dashboard", []string{"billing\xff"}, "invalid team"},
		{"a team of bytes that are not UTF-8", "dashboard", []string{strings.Repeat("\xff", 22)}, "invalid team"},
		{"a team in another script", "dashboard", []string{"Поддержка"}, ""},
		{"a subject that is not UTF-8", "ann\xff", []string{"billing"}, "UTF-8"},
		{"a subject longer than a token may be", strings.Repeat("s", 8<<10), []string{"billing"}, "bytes"},
		{"a long subject that fits", strings.Repeat("s", 5<<10), []string{"billing"}, ""},
	}
	v, err := jwtauth.NewVerifier(jwtauth.Config{Secrets: []string{string(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := jwtauth.Issue(secret, tc.subject, tc.teams, time.Hour)
			if tc.refused != "" {
				if domain.ErrorCode(err) != domain.EInvalid || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("Issue = %d bytes, %v; want EInvalid saying %q", len(tok), err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if _, err := v.Verify(tok); err != nil {
				t.Fatalf("the server refuses the token it signed (%d bytes): %v", len(tok), err)
			}
		})
	}
}

// A token signed for the longest lifetime the server allows is accepted,
// whatever fraction of a second the lifetime or the clock is at: the
// claims hold whole seconds.
func TestIssueToken_TheLongestLifetimeIsAccepted(t *testing.T) {
	t.Parallel()
	cfg := jwtauth.Config{Secrets: []string{string(secret)}, MaxLifetime: time.Hour + 500*time.Millisecond}
	v, err := jwtauth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		tok, err := jwtauth.IssueToken(cfg, jwtauth.Grant{Subject: "dashboard", Teams: []string{"billing"}, TTL: cfg.MaxLifetime})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("token %d, for the longest lifetime: %v", i, err)
		}
		time.Sleep(90 * time.Millisecond) // across fractions of a second
	}
}
