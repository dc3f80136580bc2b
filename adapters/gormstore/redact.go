package gormstore

import (
	"errors"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// redacted replaces every secret Redact hides.
const redacted = "xxxxx"

// Redact returns a database URL fit for logs and messages: the password in
// its userinfo and the value of every query parameter that may hold a
// secret (password, sslpassword, sslkey, sslcert, passfile, and any name
// with "pass", "secret", "key" or "token" in it) become "xxxxx". A
// PostgreSQL URL that does not parse, or a key=value connection string,
// is replaced whole: where a secret sits in it cannot be known. sqlite:
// URLs carry no secret and are returned as they are.
func Redact(raw string) string {
	if strings.HasPrefix(raw, "sqlite:") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Scheme == "" {
		return "(database URL, not shown: it does not parse, and may hold a password)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "(database URL, not shown: its query does not parse, and may hold a password)"
		}
		changed := false
		for k := range q {
			if secretParam(k) {
				q[k] = []string{redacted}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// secretParam reports whether a connection parameter may hold a secret or
// the path of one.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "sslkey", "sslcert", "sslrootcert", "sslcrl", "passfile", "service", "servicefile":
		return true
	}
	for _, part := range []string{"pass", "secret", "key", "token", "pwd"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// redactDriverError returns err's message with every secret of raw
// hidden: pgx quotes a connection string it could not parse, masking only
// some of its secrets, and a URL parser's error may quote it whole.
func redactDriverError(err error, raw string) string {
	msg := err.Error()
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			msg = "cannot parse " + Redact(raw) + ": " + msg[i+3:]
		}
	}
	for _, secret := range secretsOf(raw) {
		if len(secret) >= 3 {
			msg = strings.ReplaceAll(msg, secret, redacted)
		}
	}
	return msg
}

// secretsOf lists what Redact hides in raw, in the forms a message may
// quote: the whole string, the userinfo password and the values of secret
// parameters, raw and decoded, in URL or key=value form.
func secretsOf(raw string) []string {
	out := []string{raw}
	if u, err := url.Parse(raw); err == nil {
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw, url.QueryEscape(pw))
		}
	}
	if at := strings.LastIndexByte(raw, '@'); at > 0 {
		if i := strings.LastIndex(raw[:at], "://"); i >= 0 {
			if _, pw, ok := strings.Cut(raw[i+3:at], ":"); ok {
				out = append(out, pw)
			}
		}
	}
	if _, query, ok := strings.Cut(raw, "?"); ok {
		for pair := range strings.SplitSeq(query, "&") {
			if k, v, ok := strings.Cut(pair, "="); ok {
				if dk, err := url.QueryUnescape(k); err == nil && secretParam(dk) {
					out = append(out, v)
					if dv, err := url.QueryUnescape(v); err == nil {
						out = append(out, dv)
					}
				}
			}
		}
	}
	for _, field := range strings.Fields(raw) {
		if k, v, ok := strings.Cut(field, "="); ok && secretParam(k) {
			out = append(out, v, strings.Trim(v, "'"))
		}
	}
	return out
}
