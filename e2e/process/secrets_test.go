package process

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/e2e"
)

// secretMark is in every secret these tests give the binary: no output may
// contain it.
const secretMark = "S3cretMark"

// withSecrets returns the PostgreSQL URL db with a password in its
// userinfo and in its query (the trust-authenticated test server ignores
// both).
func withSecrets(t *testing.T, db string) string {
	t.Helper()
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secretMark+"Userinfo")
	q := u.Query()
	q.Set("sslpassword", secretMark+"Ssl")
	u.RawQuery = q.Encode()
	return u.String()
}

// The real binary, given its database URL and token secret as flags,
// serves; neither secret appears in anything it writes, both flags are
// warned about, and the profiler does not serve the command line.
func TestBinary_SecretsNeverReachTheOutput(t *testing.T) {
	db := withSecrets(t, pgtest.NewDatabase(t))
	secret := secretMark + strings.Repeat("j", 32)
	p := e2e.StartProcess(t, "--database", db, "--jwt-secret", secret, "--demo-tickets", "10", "--profiler")
	token, err := jwtauth.Issue([]byte(secret), "test", []string{"*"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+p.Addr+"/v1/tickets?limit=2", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/tickets with a token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for path, want := range map[string]int{"/debug/pprof/cmdline": 404, "/debug/pprof/": 200, "/metrics": 200} {
		resp, err := http.Get("http://" + p.Internal + path)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("internal %s: %v %v, want %d", path, resp, err, want)
		}
		resp.Body.Close()
	}
	out := p.Output()
	if strings.Contains(out, secretMark) {
		t.Fatalf("the server logged a secret:\n%s", out)
	}
	for _, want := range []string{"given with --jwt-secret", "given with --database holds a secret", `"database":"postgres://postgres:xxxxx@`} {
		if !strings.Contains(out, want) {
			t.Fatalf("the log lacks %q:\n%s", want, out)
		}
	}
}

// Commands that fail to open the database say why without any secret of
// its URL: unreachable, unparsable, refused by the driver, not a URL.
func TestBinary_DatabaseErrorsHideTheURLsSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	bin := e2e.Binary(t)
	for _, tc := range []struct{ name, url, mentions string }{
		{"unreachable", "postgres://postgres:" + secretMark + "@" + closed + "/x?sslmode=disable&password=" + secretMark + "Q", "database not reachable after 1s"},
		{"unparsable", "postgres://u:" + secretMark + "@h:bad port/db", "malformed PostgreSQL URL"},
		{"refused by the driver", "postgres://u:" + secretMark + "@" + closed + "/db?sslmode=bogus&sslkey=/k/" + secretMark + ".key", "sslmode is invalid"},
		{"key=value form", "host=127.0.0.1 password=" + secretMark, "not a URL"},
	} {
		for _, command := range []string{"migrate", "export", "serve"} {
			cmd := exec.Command(bin, command, "--database", tc.url, "--db-connect-timeout", "1s", "--log-format", "json", "--internal-listen", "")
			if command != "serve" {
				cmd.Args = cmd.Args[:len(cmd.Args)-2]
			} else {
				cmd.Args = append(cmd.Args, "--listen", "127.0.0.1:0")
			}
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.mentions) || strings.Contains(string(out), secretMark) {
				t.Errorf("%s %s: %v\n%s\nwant a failure mentioning %q, without the secret", command, tc.name, err, out, tc.mentions)
			}
		}
	}
}

// --jwt-secret-file gives the secret without showing it to ps, and the
// environment variable does too: neither is warned about.
func TestBinary_SecretFromFileOrEnvironment(t *testing.T) {
	secret := secretMark + strings.Repeat("f", 32)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := e2e.StartProcess(t, "--database", e2e.SQLiteURL(t), "--jwt-secret-file", file, "--demo-tickets", "10")
	t.Setenv("TICKETSTREAM_JWT_SECRET", secret)
	fromEnv := e2e.StartProcess(t, "--database", e2e.SQLiteURL(t), "--demo-tickets", "10")
	token, err := jwtauth.Issue([]byte(secret), "test", []string{"*"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*e2e.Process{"file": fromFile, "environment": fromEnv} {
		for bearer, want := range map[string]int{"": 401, token: 200} {
			req, _ := http.NewRequest("GET", "http://"+p.Addr+"/v1/tickets?limit=1", nil)
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != want {
				t.Fatalf("secret from the %s: %v %v, want %d", name, resp, err, want)
			}
			resp.Body.Close()
		}
		if out := p.Output(); strings.Contains(out, secretMark) || strings.Contains(out, "given with --jwt-secret") {
			t.Fatalf("secret from the %s: the log shows it or warns:\n%s", name, out)
		}
	}
}
