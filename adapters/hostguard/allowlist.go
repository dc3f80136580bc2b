package hostguard

import (
	"net"
	"net/http"
	"strconv"

	"github.com/ticketstream/ticketstream/adapters/httperror"
)

// Allowlist is the set of Host headers a listener answers. A web page that
// rebinds its own DNS name to this server's address is same-origin with
// the server in the browser, but its requests still carry its own name in
// Host: refusing names the server was not configured for stops it, whatever
// the Origin says.
//
// The zero Allowlist answers loopback names and addresses only, the safe
// choice for a server nobody configured.
type Allowlist struct {
	patterns   []Pattern
	configured bool // false: the zero value, loopback only
	loopback   bool
	ipLiterals bool
}

// Loopback answers "localhost" and loopback IP addresses (127.0.0.1,
// [::1], …), with any port.
func Loopback() Allowlist { return Allowlist{configured: true, loopback: true} }

// New answers the hosts the patterns match (see ParsePattern).
func New(patterns []string) (Allowlist, error) {
	ps, err := ParsePatterns(patterns)
	if err != nil {
		return Allowlist{}, err
	}
	return Allowlist{configured: true, patterns: ps}, nil
}

// Of answers the hosts of already parsed patterns.
func Of(patterns ...Pattern) Allowlist { return Allowlist{configured: true, patterns: patterns} }

// WithLoopback returns a copy that also answers loopback names and
// addresses.
func (a Allowlist) WithLoopback() Allowlist {
	a.configured, a.loopback = true, true
	a.patterns = append([]Pattern(nil), a.patterns...)
	return a
}

// WithIPLiterals returns a copy that also answers any IP address given
// literally in Host. DNS rebinding needs a name: a page whose origin is an
// IP address reaches only that address. An internal listener scraped by
// address (as Prometheus does in Kubernetes) uses this.
func (a Allowlist) WithIPLiterals() Allowlist {
	a.configured, a.ipLiterals = true, true
	a.patterns = append([]Pattern(nil), a.patterns...)
	return a
}

// Allows reports whether a request whose Host header is hostHeader is for
// this server. An empty or malformed Host is refused.
func (a Allowlist) Allows(hostHeader string) bool {
	host, port, ok := SplitHostPort(hostHeader)
	if !ok {
		return false
	}
	if (a.loopback || !a.configured) && IsLoopback(host) {
		return true
	}
	if a.ipLiterals && net.ParseIP(host) != nil {
		return true
	}
	for _, p := range a.patterns {
		if p.Match(host, port) {
			return true
		}
	}
	return false
}

// Wrap returns next behind the Host check: a request for another host gets
// 421 Misdirected Request and a JSON error (Refuse), before any route, page
// or upgrade sees it.
func Wrap(a Allowlist, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.Allows(r.Host) {
			Refuse(w, r.Host)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Refuse answers a request for host with 421 and a JSON error.
func Refuse(w http.ResponseWriter, host string) {
	if len(host) > 64 {
		host = host[:64] + "…"
	}
	httperror.Write(w, http.StatusMisdirectedRequest, httperror.Body{Error: httperror.Detail{
		Code:    "misdirected_request",
		Param:   "host",
		Message: "this server does not answer for host " + strconv.Quote(host) + ": use a name it is configured to serve",
	}})
}
