package wsgateway

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ticketstream/ticketstream/adapters/httperror"
)

// limitRetryAfter is what a refused upgrade is told to wait: sockets of
// the same token or address must close first, which takes a dashboard's
// lifetime, not a moment, so an immediate retry only loads the server.
const limitRetryAfter = 10 * time.Second

// OpenAccess is what a TokenVerifier that checks no token at all (a
// server without a token secret, allowed on loopback only) also
// implements, with Open reporting true: every request then gets the same
// scope whatever token it carries, so a per-token limit would count only
// what the client chose to write, and is off.
type OpenAccess interface {
	Open() bool
}

// connLimits counts the open sockets of each token and each client address,
// so that one client cannot take every socket the server allows. One mutex
// guards both maps: a reservation checks and counts in one step, so
// concurrent upgrades never overshoot a limit.
type connLimits struct {
	perToken, perAddress int
	checkTokens          bool

	mu        sync.Mutex
	byToken   map[[sha256.Size]byte]int
	byAddress map[netip.Addr]int
}

func newConnLimits(opts Options, checkTokens bool) *connLimits {
	return &connLimits{perToken: opts.MaxConnectionsPerToken, perAddress: opts.MaxConnectionsPerAddress, checkTokens: checkTokens,
		byToken: map[[sha256.Size]byte]int{}, byAddress: map[netip.Addr]int{}}
}

// connLease is one socket's place in the counts; release gives it back.
type connLease struct {
	l        *connLimits
	token    [sha256.Size]byte
	hasToken bool
	addr     netip.Addr
	hasAddr  bool
}

// limitRefusal names the limit an upgrade ran into.
type limitRefusal struct {
	setting string // the command-line setting that raises it
	limit   int
	what    string
}

// reserve counts a socket of token from remoteAddr (an http.Request's
// RemoteAddr: the TCP peer, never a forwarded-for header, which the client
// writes itself). It returns the lease, or the limit that refuses it.
func (l *connLimits) reserve(token, remoteAddr string) (connLease, *limitRefusal) {
	lease := connLease{l: l}
	if l.checkTokens {
		// The token itself is a secret and stays out of memory that
		// outlives the request; its hash tells tokens apart just as well.
		lease.token, lease.hasToken = tokenKey(token), true
	}
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		lease.addr, lease.hasAddr = addressKey(ap.Addr()), true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lease.hasToken && l.byToken[lease.token] >= l.perToken {
		return connLease{}, &limitRefusal{setting: "max-connections-per-token", limit: l.perToken, what: "this token"}
	}
	if lease.hasAddr && l.byAddress[lease.addr] >= l.perAddress {
		return connLease{}, &limitRefusal{setting: "max-connections-per-address", limit: l.perAddress, what: "this client address"}
	}
	if lease.hasToken {
		l.byToken[lease.token]++
	}
	if lease.hasAddr {
		l.byAddress[lease.addr]++
	}
	return lease, nil
}

// addressKey is what one client's sockets are counted under: its IPv4
// address, or the /64 of its IPv6 address, since one IPv6 host commonly
// holds a whole /64 and could otherwise open each socket from another
// address of it.
func addressKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// release gives the lease's place back. Call it once per reserved lease.
func (s connLease) release() {
	l := s.l
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.hasToken {
		if l.byToken[s.token]--; l.byToken[s.token] <= 0 {
			delete(l.byToken, s.token) // so that the map does not keep every token ever seen
		}
	}
	if s.hasAddr {
		if l.byAddress[s.addr]--; l.byAddress[s.addr] <= 0 {
			delete(l.byAddress, s.addr)
		}
	}
}

// write answers the refused upgrade: 429 with Retry-After and a JSON error
// naming the limit and the setting that raises it.
func (r *limitRefusal) write(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(limitRetryAfter/time.Second)))
	httperror.Write(w, http.StatusTooManyRequests, httperror.Body{Error: httperror.Detail{
		Code:    "too_many_connections",
		Param:   r.setting,
		Message: "too many open connections for " + r.what + " (at most " + strconv.Itoa(r.limit) + "): close one or try again later",
	}})
}

// tokenKey identifies a token by what it decodes to, not by how it is
// spelled: base64url leaves the last character's unused bits free, and a
// JWT library that decodes leniently accepts every spelling, so keying by
// the raw string would let one token count as four.
func tokenKey(token string) [sha256.Size]byte {
	h := sha256.New()
	for i, part := range strings.Split(token, ".") {
		b, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil {
			return sha256.Sum256([]byte(token))
		}
		if i > 0 {
			h.Write([]byte{'.'})
		}
		h.Write(b)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}
