// Package peerlimit counts what each client holds open at once — sockets,
// running REST streams — by token and by client address, so that one
// client cannot take what the server allows everyone. The WebSocket
// gateway and the REST routes each keep their own Limits.
package peerlimit

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

// Config sets one kind of limit.
type Config struct {
	// PerToken and PerAddress bound what one token, and one client address,
	// may hold at once; both must be positive.
	PerToken, PerAddress int
	// CheckTokens is false when the server checks no token: every request
	// then gets the same scope whatever token it carries, so a per-token
	// limit would count only what the client chose to write, and is off.
	CheckTokens bool
	// TokenSetting and AddressSetting name the settings that raise each
	// limit, for the refusal's body.
	TokenSetting, AddressSetting string
	// Code is the refusal's error code, Noun what is counted ("open
	// connections").
	Code, Noun string
	// RetryAfter is what a refused client is told to wait.
	RetryAfter time.Duration
}

// Limits counts what is held by each token and each client address. One
// mutex guards both maps: a reservation checks and counts in one step, so
// concurrent requests never overshoot a limit. It is safe for concurrent
// use.
type Limits struct {
	cfg Config

	mu        sync.Mutex
	byToken   map[[sha256.Size]byte]int
	byAddress map[netip.Addr]int
}

// New returns Limits under cfg.
func New(cfg Config) *Limits {
	return &Limits{cfg: cfg, byToken: map[[sha256.Size]byte]int{}, byAddress: map[netip.Addr]int{}}
}

// Lease is one holding's place in the counts; Release gives it back.
type Lease struct {
	l        *Limits
	token    [sha256.Size]byte
	hasToken bool
	addr     netip.Addr
	hasAddr  bool
}

// Refusal names the limit a request ran into.
type Refusal struct {
	// Setting is the setting that raises the limit.
	Setting string
	// Limit is its value.
	Limit int
	what  string
	cfg   *Config
}

// Reserve counts a holding of token from remoteAddr (an http.Request's
// RemoteAddr: the TCP peer, never a forwarded-for header, which the client
// writes itself). It returns the lease, or the limit that refuses it.
func (l *Limits) Reserve(token, remoteAddr string) (Lease, *Refusal) {
	lease := Lease{l: l}
	if l.cfg.CheckTokens {
		// The token itself is a secret and stays out of memory that
		// outlives the request; its hash tells tokens apart just as well.
		lease.token, lease.hasToken = tokenKey(token), true
	}
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		lease.addr, lease.hasAddr = addressKey(ap.Addr()), true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lease.hasToken && l.byToken[lease.token] >= l.cfg.PerToken {
		return Lease{}, &Refusal{Setting: l.cfg.TokenSetting, Limit: l.cfg.PerToken, what: "this token", cfg: &l.cfg}
	}
	if lease.hasAddr && l.byAddress[lease.addr] >= l.cfg.PerAddress {
		return Lease{}, &Refusal{Setting: l.cfg.AddressSetting, Limit: l.cfg.PerAddress, what: "this client address", cfg: &l.cfg}
	}
	if lease.hasToken {
		l.byToken[lease.token]++
	}
	if lease.hasAddr {
		l.byAddress[lease.addr]++
	}
	return lease, nil
}

// Held returns how many tokens and addresses hold something now.
func (l *Limits) Held() (tokens, addresses int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byToken), len(l.byAddress)
}

// addressKey is what one client's holdings are counted under: its IPv4
// address, or the /64 of its IPv6 address, since one IPv6 host commonly
// holds a whole /64 and could otherwise open each from another address of
// it.
func addressKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// Release gives the lease's place back. Call it once per reserved lease;
// the zero Lease releases nothing.
func (s Lease) Release() {
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

// Write answers the refused request: 429 with Retry-After and a JSON error
// naming the limit and the setting that raises it.
func (r *Refusal) Write(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(r.cfg.RetryAfter/time.Second))))
	httperror.Write(w, http.StatusTooManyRequests, httperror.Body{Error: httperror.Detail{
		Code:    r.cfg.Code,
		Param:   r.Setting,
		Message: "too many " + r.cfg.Noun + " for " + r.what + " (at most " + strconv.Itoa(r.Limit) + "): close one or try again later",
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
