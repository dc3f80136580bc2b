package domain

import "strings"

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
// s's letters A to Z compared in lower case. It allocates nothing: it runs
// for every live change and every dashboard that searches.
func containsFolded(s, needle string) bool {
	n := len(needle)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// matchesSearch reports whether t's subject or requester contains q's
// search.
func (q *Query) matchesSearch(t *Ticket) bool {
	return q.Search == "" || containsFolded(t.Subject, q.Search) || containsFolded(t.Requester, q.Search)
}
