package restapi

import (
	"net/http"
	"strings"
)

// coding is a content coding a response may be written in.
type coding uint8

const (
	identity coding = iota // no content coding
	codingGzip
	codingZstd
)

// String returns the coding's name in Content-Encoding, "" for identity.
func (c coding) String() string {
	switch c {
	case codingGzip:
		return "gzip"
	case codingZstd:
		return "zstd"
	}
	return ""
}

// codings is a set of the codings the server offers.
type codings uint8

func (s codings) has(c coding) bool { return c != identity && s&(1<<c) != 0 }

func (s codings) with(c coding) codings { return s | 1<<c }

// negotiate picks the coding of a response to a request whose
// Accept-Encoding field lines are values, among those offered (RFC 9110
// §12.5.3). Each coding's weight is its own entry's q, else the q of "*",
// else it is not acceptable; q=0 refuses. The acceptable coding of highest
// weight wins, zstd on a tie (smaller and faster than gzip on ticket JSON);
// identity wins only when the client lists it (or "*") with a higher
// weight. No field, an empty one, or one that lists nothing offered gives
// identity: a response is never refused for its coding, and a malformed
// entry is skipped as if absent, never an error.
func negotiate(values []string, offered codings) coding {
	if offered == 0 {
		return identity
	}
	// Weights in thousandths; -1: not listed.
	gz, zs, id, star := -1, -1, -1, -1
	for _, v := range values {
		for v != "" {
			var entry string
			entry, v, _ = strings.Cut(v, ",")
			name, q, ok := parseCodingEntry(entry)
			if !ok {
				continue
			}
			switch {
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				gz = max(gz, q)
			case strings.EqualFold(name, "zstd"):
				zs = max(zs, q)
			case strings.EqualFold(name, "identity"):
				id = max(id, q)
			case name == "*":
				star = max(star, q)
			}
		}
	}
	if gz < 0 {
		gz = star
	}
	if zs < 0 {
		zs = star
	}
	if !offered.has(codingGzip) {
		gz = -1
	}
	if !offered.has(codingZstd) {
		zs = -1
	}
	best, bestQ := identity, 0
	if gz > 0 {
		best, bestQ = codingGzip, gz
	}
	if zs > 0 && zs >= bestQ {
		best, bestQ = codingZstd, zs
	}
	if best != identity && id > bestQ {
		return identity
	}
	return best
}

// parseCodingEntry parses one entry of Accept-Encoding, `coding *( OWS ";"
// OWS parameter )`, into the coding's name and its weight in thousandths
// (1000 when no q is given). It reports false for an entry that is empty or
// malformed: a name that is not a token, or a q that is not a qvalue.
func parseCodingEntry(entry string) (name string, q int, ok bool) {
	name, params, _ := strings.Cut(entry, ";")
	name = strings.Trim(name, " \t")
	if !isToken(name) {
		return "", 0, false
	}
	q = 1000
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		key, val, found := strings.Cut(strings.Trim(p, " \t"), "=")
		if !found || !strings.EqualFold(strings.TrimRight(key, " \t"), "q") {
			continue // another parameter: none is defined, so it is ignored
		}
		if q, ok = parseQValue(strings.TrimLeft(val, " \t")); !ok {
			return "", 0, false
		}
	}
	return name, q, true
}

// parseQValue parses a qvalue, `"0" [ "." 0*3DIGIT ] / "1" [ "." 0*3"0" ]`,
// into thousandths.
func parseQValue(s string) (int, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	frac := s[1:]
	if frac[0] != '.' || len(frac) > 4 {
		return 0, false
	}
	scale := 100
	for i := 1; i < len(frac); i++ {
		d := frac[i]
		if d < '0' || d > '9' || (q == 1000 && d != '0') {
			return 0, false
		}
		q += int(d-'0') * scale
		scale /= 10
	}
	return q, true
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// acceptedCoding is the coding of a compressible response to r: identity
// when the server offers none. The response depends on Accept-Encoding
// whenever codings are offered, whatever is chosen, so that is when it says
// so in Vary, for caches between the server and its clients.
func (s *Server) acceptedCoding(w http.ResponseWriter, r *http.Request) coding {
	if s.codings == 0 {
		return identity
	}
	w.Header().Add("Vary", "Accept-Encoding")
	return negotiate(r.Header.Values("Accept-Encoding"), s.codings)
}
