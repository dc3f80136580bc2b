// Package hostguard holds the host rules the HTTP adapters share: which
// Host headers a listener answers (the defence against DNS rebinding), and
// the host patterns of allow-lists (--allowed-hosts, --allowed-origins).
//
// A pattern is an exact host — a DNS name, an IPv4 address or a bracketed
// IPv6 address, optionally with ":port" — or "*.suffix", which matches
// every name that ends in ".suffix" (any port) and not the bare suffix
// itself: "*.example.com" matches "a.example.com" and "a.b.example.com",
// never "example.com" or "evilexample.com". Nothing else is a pattern: no
// other wildcard, no glob syntax.
package hostguard

import (
	"fmt"
	"golang.org/x/net/publicsuffix"
	"net"
	"strconv"
	"strings"
)

// Pattern is one parsed host pattern.
type Pattern struct {
	host   string // lower case; for an IP, its canonical form without brackets
	port   string // "" matches any port
	suffix bool   // host is the suffix of "*.host"
}

// String returns the pattern as it would be written.
func (p Pattern) String() string {
	h := p.host
	if p.suffix {
		return "*." + h
	}
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if p.port != "" {
		h += ":" + p.port
	}
	return h
}

// ParsePattern reads one pattern, refusing anything but an exact host (with
// an optional port) or "*.suffix" whose suffix has two labels or more.
func ParsePattern(s string) (Pattern, error) {
	raw := s
	s = strings.ToLower(strings.TrimSpace(s))
	if suffix, ok := strings.CutPrefix(s, "*."); ok {
		if !validName(suffix) || !strings.Contains(suffix, ".") || net.ParseIP(suffix) != nil {
			return Pattern{}, fmt.Errorf("%q: after \"*.\" comes a domain of two labels or more, as *.example.com", raw)
		}
		// *.github.io or *.co.uk would let anyone who can register a name
		// under a public suffix in.
		if ps, _ := publicsuffix.PublicSuffix(suffix); ps == suffix {
			return Pattern{}, fmt.Errorf("%q: %s is a public suffix, under which anyone may register a name: name your own domain", raw, suffix)
		}
		return Pattern{host: suffix, suffix: true}, nil
	}
	host, port, ok := SplitHostPort(s)
	if !ok {
		return Pattern{}, fmt.Errorf("%q: a pattern is a host name, an IP address or [IPv6] with an optional :port, or *.example.com", raw)
	}
	if ip := net.ParseIP(host); ip != nil {
		return Pattern{host: ip.String(), port: port}, nil
	}
	if !validName(host) {
		return Pattern{}, fmt.Errorf("%q: a pattern is a host name, an IP address or [IPv6] with an optional :port, or *.example.com", raw)
	}
	return Pattern{host: host, port: port}, nil
}

// ParsePatterns reads a list of patterns, naming the first bad one.
func ParsePatterns(list []string) ([]Pattern, error) {
	out := make([]Pattern, 0, len(list))
	for _, s := range list {
		p, err := ParsePattern(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Match reports whether host (lower case, an IP without brackets) and port
// ("" when the request named none) match the pattern.
func (p Pattern) Match(host, port string) bool {
	if p.suffix {
		return len(host) > len(p.host)+1 && strings.HasSuffix(host, "."+p.host) && net.ParseIP(host) == nil
	}
	if p.port != "" && p.port != port {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String() == p.host
	}
	return host == p.host
}

// IsLoopback reports whether host names only the loopback interface:
// "localhost" or a loopback IP address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SplitHostPort splits a Host header (or an address) into its lower-case
// host, brackets removed from an IPv6 address, and its port, "" when there
// is none. It reports false for what is neither: an empty host, an
// unbracketed IPv6 address, a port that is not a number.
func SplitHostPort(hostport string) (host, port string, ok bool) {
	hostport = strings.ToLower(hostport)
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := hostport[1:end], hostport[end+1:]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil && !strings.Contains(host, ":") {
			return "", "", false
		}
		if rest != "" {
			p, has := strings.CutPrefix(rest, ":")
			if !has || !validPort(p) {
				return "", "", false
			}
			port = p
		}
		return host, port, true
	}
	host = hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
		if strings.Contains(host, ":") || !validPort(port) {
			return "", "", false
		}
	}
	if host == "" {
		return "", "", false
	}
	return host, port, true
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && len(p) <= 5 && n >= 0 && n <= 65535 && strings.Trim(p, "0123456789") == ""
}

// validName reports whether s is a DNS name of letters, digits and
// hyphens: labels of 1 to 63 characters, neither starting nor ending with
// a hyphen, 253 characters at most.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
