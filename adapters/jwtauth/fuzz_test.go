package jwtauth_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/domain"
)

func FuzzVerify(f *testing.F) {
	v, err := jwtauth.NewVerifier(jwtauth.Config{Secrets: []string{string(secret)}})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := jwtauth.Issue(secret, "s", []string{"billing"}, time.Hour)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJ0ZWFtcyI6WyIqIl19.")
	f.Add("...")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		scope, err := v.Verify(token)
		if err != nil {
			if c := domain.ErrorCode(err); c != domain.EUnauthorized && c != domain.EForbidden {
				t.Fatalf("Verify failed with %v, not an auth error", err)
			}
			return
		}
		if !scope.AllTeams && len(scope.Teams) == 0 {
			t.Fatal("an accepted token grants an empty scope")
		}
	})
}

// FuzzVerifyClaims signs whatever claims JSON the fuzzer writes with the
// server's own secret, so that every input passes the signature and
// reaches the policy: whatever is accepted must meet every rule, read here
// independently of the verifier (through encoding/json's own reading).
func FuzzVerifyClaims(f *testing.F) {
	const maxLife = 30 * 24 * time.Hour
	v, err := jwtauth.NewVerifier(jwtauth.Config{Secrets: []string{string(secret)}})
	if err != nil {
		f.Fatal(err)
	}
	exp := itoa(time.Now().Add(time.Hour).Unix())
	for _, seed := range []string{
		`{"aud":"ticketstream","exp":` + exp + `,"teams":["billing"]}`,
		`{"aud":["x","ticketstream"],"exp":` + exp + `,"teams":["*"]}`,
		`{"aud":"ticketstream","exp":"` + exp + `","teams":["*"]}`,
		`{"aud":"ticketstream","exp":` + exp + `,"Teams":["*"]}`,
		`{"aud":"ticketstream","exp":` + exp + `,"teams":["x"],"teams":["*"]}`,
		`{"aud":"ticketstream","exp":` + exp + `,"teams":["x"],"te\u0061ms":["*"]}`,
		`{"aud":"ticketstream","exp":253402300799,"teams":["*"]}`,
		`{"aud":"ticketstream","exp":` + exp + `,"iat":0,"teams":["*"]}`,
		`{"AUD":"ticketstream","aud":"other","exp":` + exp + `,"teams":["*"]}`,
		`{"exp":` + exp + `,"teams":["*"]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		token := signRaw(t, secret, payload)
		scope, err := v.Verify(token)
		if err != nil {
			if c := domain.ErrorCode(err); c != domain.EUnauthorized && c != domain.EForbidden {
				t.Fatalf("Verify failed with %v, not an auth error", err)
			}
			return
		}
		var claims map[string]any
		if err := json.Unmarshal([]byte(payload), &claims); err != nil {
			t.Fatalf("accepted claims that are not a JSON object: %v", err)
		}
		for key := range claims {
			for _, name := range []string{"teams", "exp", "nbf", "iat", "aud", "iss", "sub"} {
				if key != name && strings.EqualFold(key, name) {
					t.Fatalf("accepted a claim named %q", key)
				}
			}
		}
		// Outside nested objects, `"teams":` with an unescaped closing quote
		// can only be a key.
		flat := strings.Count(payload, "{") == 1
		if flat && (strings.Count(payload, `"teams":`) > 1 || strings.Count(payload, `"exp":`) > 1) {
			t.Fatalf("accepted duplicate claims: %s", payload)
		}
		expF, ok := claims["exp"].(float64)
		if !ok {
			t.Fatalf("accepted an exp that is not a number: %#v", claims["exp"])
		}
		for _, name := range []string{"iat", "nbf"} {
			if val, present := claims[name]; present {
				if _, ok := val.(float64); !ok {
					t.Fatalf("accepted %s that is not a number: %#v", name, val)
				}
			}
		}
		from := float64(time.Now().Unix())
		if iat, ok := claims["iat"].(float64); ok {
			from = iat
		}
		if expF-from > maxLife.Seconds()+1 {
			t.Fatalf("accepted a lifetime of %.0fs", expF-from)
		}
		if !hasAudience(claims["aud"], jwtauth.DefaultAudience) {
			t.Fatalf("accepted audience %#v", claims["aud"])
		}
		if !scope.AllTeams && len(scope.Teams) == 0 {
			t.Fatal("an accepted token grants an empty scope")
		}
	})
}

func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if x == want {
				return true
			}
		}
	}
	return false
}
