// What ServeHTTP checks of an upgrade request before it becomes a socket:
// its form, its bearer token and its origin.

package wsgateway

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ticketstream/ticketstream/adapters/bearer"
	"github.com/ticketstream/ticketstream/adapters/hostguard"
	"github.com/ticketstream/ticketstream/domain"
)

// checkUpgrade answers what coder/websocket would refuse in plain text,
// with our JSON errors: a request that is not a WebSocket upgrade (426), or
// a malformed one (400). It returns 0 for a well-formed upgrade.
func checkUpgrade(r *http.Request) (int, string) {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		return http.StatusUpgradeRequired, "this endpoint speaks WebSocket: send an upgrade request (Connection: Upgrade, Upgrade: websocket) offering the ticketstream.v1 subprotocol"
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		return http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version " + strconv.Quote(truncate(v, 16)) + ": use 13"
	}
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key"))
	if err != nil || len(key) != 16 {
		return http.StatusBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64"
	}
	return 0, ""
}

// headerHasToken reports whether header name lists token (case-insensitive,
// comma-separated, possibly over several lines).
func headerHasToken(h http.Header, name, token string) bool {
	for _, line := range h.Values(name) {
		for t := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// bearerToken finds the token: an Authorization header (scripts), a
// "bearer.<token>" subprotocol (browsers), or access_token in the query
// (last resort: URLs end up in proxy logs).
// A malformed Authorization header is an error, as it is on the REST
// routes: both read it through package bearer. So is a request carrying
// more than one token, in one place or several, even the same one twice:
// a proxy or a log that reads another one than the server would see
// another client than the server authorizes (REST refuses a second
// Authorization header for the same reason).
func bearerToken(r *http.Request, values url.Values) (string, error) {
	var found []string
	t, present, err := bearer.FromHeader(r)
	if err != nil {
		return "", err
	}
	if present {
		found = append(found, t)
	}
	for _, line := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(line, ",") {
			if t, ok := strings.CutPrefix(strings.TrimSpace(p), BearerPrefix); ok {
				found = append(found, t)
			}
		}
	}
	found = append(found, values["access_token"]...)
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", &domain.Error{Code: domain.EUnauthorized, Message: msgSeveralTokens}
}

// msgSeveralTokens refuses an upgrade that carries more than one token.
const msgSeveralTokens = "one token, not several: send it once, in the Authorization header, a bearer. subprotocol or access_token"

// originAllowed applies the cross-site WebSocket hijacking defence: a
// browser's Origin must be this host or match an allowed pattern.
func (g *Gateway) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	// The request's Host passed the listener's allow-list, so a page of
	// the same host is one of ours, not a rebound name.
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	host, port, ok := hostguard.SplitHostPort(u.Host)
	if !ok {
		return false
	}
	for _, p := range g.origins {
		if p.Match(host, port) {
			return true
		}
	}
	return false
}
