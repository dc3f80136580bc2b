package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A page that rebinds its own name to the loopback server sends its name
// in Host: with auth off (the zero-setup run) it gets 421 on REST, on the
// socket upgrade and on the dashboard's pages, whatever its Origin; the
// loopback names are served.
func TestServer_RefusesARebindingHostEverywhere(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, gormstore.SQLite, nil)
	port := srv.Base[strings.LastIndexByte(srv.Base, ':'):]
	for _, tc := range []struct {
		host   string
		status int
	}{
		{"rebind.attacker.test", 421},
		{"rebind.attacker.test" + port, 421},
		{"localhost.attacker.test" + port, 421},
		{"127.0.0.1.nip.io" + port, 421},
		{"localhost", 200},
		{"localhost" + port, 200},
		{"127.0.0.1", 200},
		{"[::1]" + port, 200},
		{"[::1]", 200},
	} {
		for _, path := range []string{"/v1/tickets?limit=2", "/v1/tickets/1", "/v1/session", "/", "/ui/js/main.js", "/no/such/route"} {
			resp, body := Get(t, srv.Base+path, "", "Host", tc.host, "Origin", "http://"+tc.host)
			want := tc.status
			if want == 200 && path == "/no/such/route" {
				want = 404
			}
			if resp.StatusCode != want {
				t.Fatalf("Host %s %s: HTTP %d %.200s, want %d", tc.host, path, resp.StatusCode, body, want)
			}
			if want == 421 {
				var b struct{ Error struct{ Code, Param string } }
				if err := json.Unmarshal(body, &b); err != nil || b.Error.Code != "misdirected_request" || b.Error.Param != "host" {
					t.Fatalf("Host %s %s: body %s", tc.host, path, body)
				}
				if strings.Contains(string(body), "subject") {
					t.Fatalf("a refused request saw tickets: %s", body)
				}
			}
		}
		c, resp, err := websocket.Dial(context.Background(), "ws"+srv.Base[len("http"):]+"/v1/stream",
			&websocket.DialOptions{Host: tc.host, HTTPHeader: map[string][]string{"Origin": {"http://" + tc.host}}, Subprotocols: []string{"ticketstream.v1"}})
		if tc.status == 421 {
			if err == nil || resp == nil || resp.StatusCode != 421 {
				t.Fatalf("Host %s: the upgrade was not refused with 421 (%v, %+v)", tc.host, err, resp)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Host %s: upgrade refused: %v", tc.host, err)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
	// Health checks pass whatever the Host: a load balancer probes by an
	// address the allow-list cannot know.
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := Get(t, srv.Base+path, "", "Host", "10.1.2.3:8080"); resp.StatusCode != 200 {
			t.Fatalf("%s with an address as Host: HTTP %d %s", path, resp.StatusCode, body)
		}
	}
}

// The public listener serves no metrics and no profiler, whatever the
// Host: they are on the internal listener only.
func TestServer_PublicListenerServesNoInternalEndpoints(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, gormstore.SQLite, nil)
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline"} {
		if resp, body := Get(t, srv.Base+path, ""); resp.StatusCode != 404 {
			t.Fatalf("public %s: HTTP %d %.100s, want 404", path, resp.StatusCode, body)
		}
	}
	if resp, body := Get(t, srv.Internal+"/metrics", ""); resp.StatusCode != 200 || !strings.Contains(string(body), "ticketstream_") {
		t.Fatalf("internal /metrics: HTTP %d %.100s", resp.StatusCode, body)
	}
	if resp, _ := Get(t, srv.Internal+"/metrics", "", "Host", "rebind.attacker.test:9090"); resp.StatusCode != 421 {
		t.Fatalf("internal /metrics for a rebound name: HTTP %d, want 421", resp.StatusCode)
	}
}

// With --allowed-hosts the listed names are served and nothing else, not
// even loopback.
func TestServer_AllowedHostsReplaceTheDefault(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("k", 32)
	logs := &portstest.LogBuffer{}
	srv := StartServerLogging(t, gormstore.SQLite, func(c *ticketstream.Config) {
		c.Server.JWTSecret = secret
		c.Server.AllowedHosts = []string{"tickets.example.com", "*.dash.example.com"}
	}, slog.New(slog.NewJSONHandler(logs, nil)))
	for host, status := range map[string]int{"tickets.example.com": 401, "a.dash.example.com:8443": 401, "dash.example.com": 421, "evildash.example.com": 421, "localhost": 421} {
		if resp, body := Get(t, srv.Base+"/v1/tickets", "", "Host", host); resp.StatusCode != status {
			t.Errorf("Host %s: HTTP %d %s, want %d", host, resp.StatusCode, body, status)
		}
	}
	// A refusal is logged like any request: a proxy that rewrites Host
	// shows at once.
	if !strings.Contains(logs.String(), `"path":"/v1/tickets","filter":"","status":421`) {
		t.Fatalf("no request line with status 421:\n%s", logs.String())
	}
}
