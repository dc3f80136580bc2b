package jwtauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ticketstream/ticketstream/domain"
)

// claimNames are the claims this package reads. A key that differs from one
// of them only in letter case is refused, not ignored: encoding/json
// matches names without regard to case, so "Teams" would otherwise grant
// what "teams" does, or override it.
var claimNames = []string{"teams", "exp", "nbf", "iat", "aud", "iss", "sub", "jti"}

// dateClaims must be JSON numbers; encoding/json would also read a number
// written as a string.
var dateClaims = map[string]bool{"exp": true, "nbf": true, "iat": true}

// maxDepth bounds the nesting of the payload's JSON.
const maxDepth = 16

// checkPayload reads token's payload as strict JSON: one object whose keys
// are unique at every level (with two "teams" keys the library keeps the
// last), claim names in their exact case, and numeric dates.
func checkPayload(token string) *domain.Error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return unauthorized("malformed token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return unauthorized("malformed token payload")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := checkObject(dec, 0, true); err != nil {
		return unauthorized("token claims: " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return unauthorized("token claims: data after the claims object")
	}
	return nil
}

// checkValue reads one JSON value from dec, rejecting duplicate keys in any
// object it holds.
func checkValue(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return errors.New("not valid JSON")
	}
	switch tok {
	case json.Delim('{'):
		return checkMembers(dec, depth, false)
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errors.New("not valid JSON")
		}
	}
	return nil
}

// checkObject reads an object, which must come next in dec.
func checkObject(dec *json.Decoder, depth int, top bool) error {
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	return checkMembers(dec, depth, top)
}

// checkMembers reads an object's members up to its closing brace; at the
// top level it also checks the claim names and the dates' types.
func checkMembers(dec *json.Decoder, depth int, top bool) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("not valid JSON")
		}
		key, _ := tok.(string)
		if seen[key] {
			return fmt.Errorf("duplicate claim %q", key)
		}
		seen[key] = true
		if top {
			for _, name := range claimNames {
				if key != name && strings.EqualFold(key, name) {
					return fmt.Errorf("claim %q: claim names are case-sensitive (%q)", key, name)
				}
			}
			if dateClaims[key] {
				v, err := dec.Token()
				if err != nil {
					return errors.New("not valid JSON")
				}
				if _, ok := v.(json.Number); !ok {
					return fmt.Errorf("claim %q must be a number of seconds", key)
				}
				continue
			}
		}
		if err := checkValue(dec, depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return errors.New("not valid JSON")
	}
	return nil
}

// checkHeader reads token's header as strict JSON: keys unique at every
// level (with two "alg" keys the library keeps the last, another reader
// the first), and no critical extension, since this server implements
// none and RFC 7515 has such a token refused.
func checkHeader(token string) *domain.Error {
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return unauthorized("malformed token header")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := checkValue(dec, 0); err != nil {
		return unauthorized("token header: " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return unauthorized("token header: data after the header object")
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil {
		return unauthorized("malformed token header")
	}
	if _, ok := h["crit"]; ok {
		return unauthorized("token header names critical extensions, which this server does not implement")
	}
	return nil
}
