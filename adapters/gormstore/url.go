package gormstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"

	"github.com/ticketstream/ticketstream/domain"
)

// Dialect names a supported database.
type Dialect string

// The supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DefaultURL is the database a new user gets: an SQLite file in the working
// directory, created on first start.
const DefaultURL = "sqlite:ticketstream.db"

// target is a parsed database URL.
type target struct {
	dialect Dialect
	dsn     string // what the driver opens
	path    string // SQLite only: the file, or "" for an in-memory database
}

// parseURL reads a database URL: postgres://… or postgresql://… for
// PostgreSQL, sqlite:PATH for a file, sqlite::memory: for a private
// in-memory database. Anything else is an EInvalid error.
func parseURL(raw string) (target, error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return target{}, domain.Invalidf("database", "malformed PostgreSQL URL: %v", redactError(err))
		}
		return target{dialect: Postgres, dsn: raw}, nil
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		if path == "" {
			return target{}, domain.Invalidf("database", "sqlite: needs a file path, as in sqlite:ticketstream.db")
		}
		if path == ":memory:" {
			return target{dialect: SQLite, dsn: "file:ticketstream-" + randomName() + "?mode=memory&cache=shared&" + sqlitePragmas}, nil
		}
		if strings.ContainsAny(path, "?#") {
			return target{}, domain.Invalidf("database", "sqlite path %q must not contain '?' or '#'", path)
		}
		return target{dialect: SQLite, dsn: "file:" + path + "?" + sqlitePragmas, path: path}, nil
	}
	scheme, _, found := strings.Cut(raw, ":")
	if !found || !validScheme(scheme) {
		// Never echo it: a key=value connection string holds its password
		// in plain text.
		return target{}, domain.Invalidf("database", "the database setting is not a URL (want postgres://… or sqlite:PATH)")
	}
	return target{}, domain.Invalidf("database", "unsupported database URL scheme %q (want postgres://… or sqlite:PATH)", truncate(scheme, 32))
}

// redactError describes a URL parse error without echoing the URL, which
// may hold a password.
func redactError(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return "unparsable"
}

// validScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.'.
func validScheme(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// randomName returns 16 random hex digits, for private in-memory databases.
func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
