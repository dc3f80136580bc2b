package hostguard_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/hostguard"
	"github.com/ticketstream/ticketstream/adapters/httperror"
)

func TestParsePattern_RefusesEverythingButHostsAndStarDotSuffix(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "*", "*example.com", "ex*ample.com", "[", "*.com", "*.*.example.com", "example.*", "a..b", "-a.example.com",
		"dash.example.com/path", "https://dash.example.com", "::1", "[::1", "host:port", "host:99999", "*.example.com:443", "a b", "exa?ple.com", "[a-z].example.com"} {
		if p, err := hostguard.ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q) = %v, want an error", bad, p)
		}
	}
	for in, want := range map[string]string{"Dash.Example.com": "dash.example.com", "*.example.com": "*.example.com", "127.0.0.1:8080": "127.0.0.1:8080",
		"[::1]": "[::1]", "[0:0:0:0:0:0:0:1]:443": "[::1]:443", "localhost": "localhost", " tickets.internal ": "tickets.internal"} {
		p, err := hostguard.ParsePattern(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePattern(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
}

func TestAllowlist_Allows(t *testing.T) {
	t.Parallel()
	configured, err := hostguard.New([]string{"*.example.com", "tickets.internal:8443", "10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		list  hostguard.Allowlist
		host  string
		allow bool
	}{
		{"loopback name", hostguard.Loopback(), "localhost", true},
		{"loopback name with port", hostguard.Loopback(), "localhost:8080", true},
		{"loopback name in capitals", hostguard.Loopback(), "LOCALHOST:8080", true},
		{"IPv4 loopback", hostguard.Loopback(), "127.0.0.1:8080", true},
		{"IPv4 loopback without port", hostguard.Loopback(), "127.0.0.1", true},
		{"IPv6 loopback", hostguard.Loopback(), "[::1]:8080", true},
		{"IPv6 loopback without port", hostguard.Loopback(), "[::1]", true},
		{"the zero value is loopback only", hostguard.Allowlist{}, "127.0.0.1:1", true},
		{"rebound name", hostguard.Loopback(), "rebind.attacker.test", false},
		{"rebound name with port", hostguard.Loopback(), "rebind.attacker.test:8080", false},
		{"the zero value refuses names", hostguard.Allowlist{}, "rebind.attacker.test", false},
		{"localhost as a subdomain", hostguard.Loopback(), "localhost.attacker.test", false},
		{"trailing dot", hostguard.Loopback(), "localhost.", false},
		{"unbracketed IPv6", hostguard.Loopback(), "::1", false},
		{"bad port", hostguard.Loopback(), "localhost:http", false},
		{"empty", hostguard.Loopback(), "", false},
		{"private address", hostguard.Loopback(), "10.0.0.5:8080", false},
		{"suffix", configured, "a.example.com", true},
		{"deep suffix", configured, "a.b.example.com:443", true},
		{"bare domain", configured, "example.com", false},
		{"glued suffix", configured, "evilexample.com", false},
		{"exact with its port", configured, "tickets.internal:8443", true},
		{"exact with another port", configured, "tickets.internal:8080", false},
		{"exact without the port", configured, "tickets.internal", false},
		{"IP pattern any port", configured, "10.0.0.5:8080", true},
		{"configured list refuses loopback", configured, "localhost", false},
		{"configured list with loopback", configured.WithLoopback(), "[::1]:9", true},
		{"IP literals", hostguard.Loopback().WithIPLiterals(), "192.0.2.7:9090", true},
		{"IPv6 literal", hostguard.Loopback().WithIPLiterals(), "[2001:db8::1]:9090", true},
		{"IP literals refuse names", hostguard.Loopback().WithIPLiterals(), "rebind.attacker.test:9090", false},
	}
	for _, tc := range tests {
		if got := tc.list.Allows(tc.host); got != tc.allow {
			t.Errorf("%s: Allows(%q) = %v, want %v", tc.name, tc.host, got, tc.allow)
		}
	}
}

// A request for another host gets 421 and the JSON error before the
// handler runs.
func TestWrap_MisdirectedRequestIs421WithJSON(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(hostguard.Wrap(hostguard.Loopback(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served")
	})))
	defer srv.Close()
	for _, tc := range []struct {
		host, path string
		status     int
	}{
		{"", "/", 200},
		{"localhost", "/", 200},
		{"rebind.attacker.test", "/", 421},
		{"rebind.attacker.test:80", "/v1/tickets", 421},
		{"LocalHost:1", "/x", 200},
	} {
		req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("Host %q %s: HTTP %d %s, want %d", tc.host, tc.path, resp.StatusCode, body, tc.status)
		}
		if tc.status == 421 {
			var b httperror.Body
			if err := json.Unmarshal(body, &b); err != nil || b.Error.Code != "misdirected_request" || b.Error.Param != "host" {
				t.Fatalf("421 body %s (%v)", body, err)
			}
		}
	}
}

// Whatever the Host header, the loopback allow-list answers only loopback
// hosts, and a parsed pattern matches its own spelling.
func FuzzAllows(f *testing.F) {
	for _, s := range []string{"localhost:8080", "[::1]", "127.0.0.1", "rebind.attacker.test", "[::ffff:127.0.0.1]:1", "localhost.", "[", "*.example.com", "a.example.com:443"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hostHeader string) {
		if hostguard.Loopback().Allows(hostHeader) {
			host, _, ok := hostguard.SplitHostPort(hostHeader)
			if !ok || !hostguard.IsLoopback(host) {
				t.Fatalf("Loopback allows %q", hostHeader)
			}
		}
		if p, err := hostguard.ParsePattern(hostHeader); err == nil {
			again, err := hostguard.ParsePattern(p.String())
			if err != nil || again != p {
				t.Fatalf("pattern %q prints as %q, which parses as %v, %v", hostHeader, p, again, err)
			}
		}
	})
}
