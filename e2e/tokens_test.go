package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/adapters/wsgateway"
)

// previousSecret is the secret a rotation retires: the server accepts its
// tokens beside the new secret's until it is dropped from the list.
const previousSecret = "previous-secret-previous-secret-previous"

// signPayload signs claims JSON exactly as written with secret, for the
// tokens no honest issuer writes.
func signPayload(t *testing.T, payload string) string {
	t.Helper()
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(unsigned, []byte(Secret))
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestTokens_PolicyHoldsOnRESTAndSocket sends each token the attacker
// tried, and the honest ones, to both the REST routes and the socket, with
// the Authorization scheme in any letter case: both sides read the header
// in one place and refuse or accept the same tokens.
func TestTokens_PolicyHoldsOnRESTAndSocket(t *testing.T) {
	r := StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) {
		c.Server.JWTSecret = Secret
		c.Server.Token.Secrets = []string{previousSecret}
	})
	now := time.Now()
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	billing, _ := jwtauth.Issue([]byte(Secret), "t", []string{"billing"}, time.Hour)
	rotated, _ := jwtauth.Issue([]byte(previousSecret), "t", []string{"billing"}, time.Hour)
	otherAudience := SignClaims(t, jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{
		Audience: jwt.ClaimStrings{"billing-api"}, ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}})
	noAudience := SignClaims(t, jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}})
	year9000 := SignClaims(t, jwtauth.Claims{Teams: []string{"*"}, RegisteredClaims: jwt.RegisteredClaims{
		Audience: jwt.ClaimStrings{"ticketstream"}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC))}})
	tests := []struct {
		name, scheme, token string
		status              int
		mentions            string
	}{
		{"valid, canonical scheme", "Bearer", billing, 200, ""},
		{"valid, lower-case scheme", "bearer", billing, 200, ""},
		{"valid, upper-case scheme", "BEARER", billing, 200, ""},
		{"signed with the previous secret", "Bearer", rotated, 200, ""},
		{"another scheme", "Basic", billing, 401, "Bearer"},
		{"another audience", "Bearer", otherAudience, 401, "audience"},
		{"no audience", "Bearer", noAudience, 401, "audience"},
		{"expiry in the year 9000", "Bearer", year9000, 401, "maximum"},
		{"exp as a string", "Bearer", signPayload(t, `{"aud":"ticketstream","exp":"`+exp+`","teams":["*"]}`), 401, "number"},
		{"Teams in another case", "Bearer", signPayload(t, `{"aud":"ticketstream","exp":`+exp+`,"Teams":["*"]}`), 401, "case-sensitive"},
		{"two teams claims", "Bearer", signPayload(t, `{"aud":"ticketstream","exp":`+exp+`,"teams":["billing"],"teams":["*"]}`), 401, "duplicate"},
	}
	wsURL := "ws" + strings.TrimPrefix(r.Base, "http") + "/v1/stream?team=billing"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header := tc.scheme + " " + tc.token
			resp, body := Get(t, r.Base+"/v1/tickets?team=billing&limit=3", "", "Authorization", header)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.mentions) {
				t.Fatalf("REST: %d %s, want %d mentioning %q", resp.StatusCode, body, tc.status, tc.mentions)
			}
			c, resp, err := websocket.Dial(context.Background(), wsURL, &websocket.DialOptions{
				HTTPHeader: http.Header{"Authorization": {header}}, Subprotocols: []string{wsgateway.Subprotocol},
			})
			if tc.status == 200 {
				if err != nil {
					t.Fatalf("socket: %v", err)
				}
				c.Close(websocket.StatusNormalClosure, "")
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("socket: the upgrade was accepted")
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("socket: %v, want %d", err, tc.status)
			}
		})
	}
}

// TestTokens_RotationWithoutLoggingAnyoneOut: a server that accepts the
// next and the previous secret serves the tokens of both; once the previous
// one is dropped, only its tokens stop working.
func TestTokens_RotationWithoutLoggingAnyoneOut(t *testing.T) {
	const next = "next-secret-next-secret-next-secret-next"
	r := StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) {
		c.Server.Token.Secrets = []string{next, previousSecret}
	})
	old, _ := jwtauth.Issue([]byte(previousSecret), "t", []string{"*"}, time.Hour)
	fresh, _ := jwtauth.Issue([]byte(next), "t", []string{"*"}, time.Hour)
	for _, tok := range []string{old, fresh} {
		if resp, body := Get(t, r.Base+"/v1/session", tok); resp.StatusCode != 200 {
			t.Fatalf("during the rotation: %d %s", resp.StatusCode, body)
		}
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	r = StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) { c.Server.Token.Secrets = []string{next} })
	if resp, _ := Get(t, r.Base+"/v1/session", fresh); resp.StatusCode != 200 {
		t.Fatalf("the new secret's token after the rotation: %d", resp.StatusCode)
	}
	if resp, _ := Get(t, r.Base+"/v1/session", old); resp.StatusCode != 401 {
		t.Fatalf("the retired secret's token after the rotation: %d", resp.StatusCode)
	}
}
