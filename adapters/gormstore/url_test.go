package gormstore

import (
	"net/url"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/domain"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		dialect Dialect
		path    string
		ok      bool
	}{
		{"postgres://u:p@h:5432/db?sslmode=disable", Postgres, "", true},
		{"postgresql://h/db", Postgres, "", true},
		{"sqlite:ticketstream.db", SQLite, "ticketstream.db", true},
		{"sqlite:///var/lib/ts/t.db", SQLite, "/var/lib/ts/t.db", true},
		{"sqlite::memory:", SQLite, "", true},
		{"sqlite:", "", "", false},
		{"sqlite:a.db?_pragma=x", "", "", false},
		{"mysql://root@h/db", "", "", false},
		{"", "", "", false},
		{"postgres://u:p@h:bad port/db", "", "", false},
	}
	for _, tc := range tests {
		got, err := parseURL(tc.raw)
		if (err == nil) != tc.ok || (err == nil && (got.dialect != tc.dialect || got.path != tc.path)) {
			t.Fatalf("parseURL(%q) = %+v, %v", tc.raw, got, err)
		}
		if err != nil && strings.Contains(err.Error(), ":p@") {
			t.Fatalf("the error for %q shows the password: %v", tc.raw, err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"postgres://u:secret@h/db", "sqlite:t.db", "sqlite::memory:", "mysql://x", "postgres://[::1", "sqlite:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseURL(raw)
		if err != nil {
			if domain.ErrorCode(err) != domain.EInvalid {
				t.Fatalf("parseURL(%q) failed with %v, not EInvalid", raw, err)
			}
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && len(pw) >= 4 && strings.Contains(err.Error(), pw) {
					t.Fatalf("the error echoes the password %q: %v", pw, err)
				}
			}
			return
		}
		if got.dialect != Postgres && got.dialect != SQLite {
			t.Fatalf("parseURL(%q) gave dialect %q", raw, got.dialect)
		}
	})
}
