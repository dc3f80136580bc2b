package bearer_test

import (
	"net/http/httptest"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/bearer"
	"github.com/ticketstream/ticketstream/domain"
)

func TestFromHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		header  string // "" for none
		token   string
		present bool
		bad     bool
	}{
		{"no header", "", "", false, false},
		{"canonical", "Bearer abc.def.ghi", "abc.def.ghi", true, false},
		{"lower case scheme", "bearer abc.def.ghi", "abc.def.ghi", true, false},
		{"upper case scheme", "BEARER abc.def.ghi", "abc.def.ghi", true, false},
		{"extra spaces", "  Bearer   abc.def.ghi  ", "abc.def.ghi", true, false},
		{"another scheme", "Basic dXNlcjpwYXNz", "", true, true},
		{"scheme alone", "Bearer", "", true, false},
		{"scheme and spaces", "Bearer    ", "", true, false},
		{"two tokens", "Bearer a b", "", true, true},
		{"scheme glued to token", "Bearerabc", "", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			token, present, err := bearer.FromHeader(r)
			if token != tc.token || present != tc.present || (err != nil) != tc.bad {
				t.Fatalf("FromHeader(%q) = %q, %v, %v; want %q, %v, bad %v", tc.header, token, present, err, tc.token, tc.present, tc.bad)
			}
			if err != nil && domain.ErrorCode(err) != domain.EUnauthorized {
				t.Fatalf("error code %q, want unauthorized", domain.ErrorCode(err))
			}
		})
	}
}
