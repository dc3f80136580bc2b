package hostguard

import "testing"

// TestParsePattern_RefusesAPublicSuffix: *.github.io or *.co.uk would let
// anyone who registers a name there in. The rule is the public suffix
// list's: a wildcard DNS service that is not on it (nip.io) is not caught,
// which the README says.
func TestParsePattern_RefusesAPublicSuffix(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"*.github.io", "*.co.uk", "*.com.au"} {
		if _, err := ParsePattern(p); err == nil {
			t.Errorf("ParsePattern(%q) accepted a public suffix", p)
		}
	}
	for _, p := range []string{"*.example.com", "*.dash.example.co.uk", "*.example.github.io"} {
		if _, err := ParsePattern(p); err != nil {
			t.Errorf("ParsePattern(%q) = %v, want a pattern", p, err)
		}
	}
}
