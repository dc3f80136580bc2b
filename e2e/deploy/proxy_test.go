package deploy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/ports/portstest"
)

// publicHost is the name clients use for the proxy: not a loopback name,
// so that ticketstream's --allowed-hosts check and the certificate are
// what a real deployment has. The test's clients resolve it to 127.0.0.1.
const publicHost = "tickets.test"

// selfSignedCert makes a certificate and key for publicHost with openssl,
// as one would for a trial, and returns their paths.
func selfSignedCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	openssl := requireTool(t, "openssl", "apt-get install openssl")
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-days", "2", "-subj", "/CN="+publicHost, "-addext", "subjectAltName=DNS:"+publicHost,
		"-keyout", key, "-out", cert).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	return cert, key
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// siteConfig is docs/deploy/nginx.conf with its placeholders replaced.
// Every placeholder must be found exactly as written, so that the file and
// this test cannot drift apart.
func siteConfig(t *testing.T, httpsPort, httpPort int, cert, key string, upstreams [2]string) string {
	t.Helper()
	raw, err := os.ReadFile("../../docs/deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	for _, r := range []struct{ old, new string }{
		{"listen 443 ssl; # placeholder", fmt.Sprintf("listen 127.0.0.1:%d ssl;", httpsPort)},
		{"listen 80; # placeholder", fmt.Sprintf("listen 127.0.0.1:%d;", httpPort)},
		{"server_name tickets.example.com; # placeholder", "server_name " + publicHost + ";"},
		{"ssl_certificate     /etc/ssl/certs/tickets.example.com.pem;   # placeholder", "ssl_certificate " + cert + ";"},
		{"ssl_certificate_key /etc/ssl/private/tickets.example.com.key; # placeholder", "ssl_certificate_key " + key + ";"},
		{"server 127.0.0.1:8081 ", "server " + upstreams[0] + " "},
		{"server 127.0.0.1:8082 ", "server " + upstreams[1] + " "},
	} {
		if !strings.Contains(conf, r.old) {
			t.Fatalf("docs/deploy/nginx.conf no longer holds %q", r.old)
		}
		conf = strings.ReplaceAll(conf, r.old, r.new)
	}
	if strings.Contains(conf, "# placeholder") {
		t.Fatalf("docs/deploy/nginx.conf has a placeholder this test does not fill:\n%s", conf)
	}
	return conf
}

// proxy is an nginx process running the site.
type proxy struct {
	cmd    *exec.Cmd
	base   string // https://tickets.test:port
	plain  string // the redirecting plain-HTTP listener, host:port
	log    *portstest.LogBuffer
	client *http.Client // trusts the certificate, resolves publicHost
}

// startNginx runs nginx in the foreground with the site in a main
// configuration standing in for Debian's /etc/nginx/nginx.conf, and waits
// until it answers through to a replica.
func startNginx(t *testing.T, upstreams [2]string) *proxy {
	t.Helper()
	nginx := requireTool(t, "nginx", "apt-get install --no-install-recommends nginx")
	dir := t.TempDir()
	cert, key := selfSignedCert(t, dir)
	httpsPort, httpPort := freePort(t), freePort(t)
	site := filepath.Join(dir, "ticketstream.conf")
	if err := os.WriteFile(site, []byte(siteConfig(t, httpsPort, httpPort, cert, key, upstreams)), 0o644); err != nil {
		t.Fatal(err)
	}
	// What Debian's nginx.conf provides around sites-enabled/, with every
	// path in the test's directory so that no root is needed.
	main := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log stderr notice;
worker_processes 1;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, dir, site)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	log := &portstest.LogBuffer{}
	if out, err := exec.Command(nginx, "-t", "-e", "stderr", "-p", dir, "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(nginx, "-e", "stderr", "-p", dir, "-c", conf, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM is nginx's fast shutdown; SIGQUIT would wait for the
		// sockets to close.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("nginx still ran 10s after SIGTERM: killed\n%s", log.String())
		}
		if t.Failed() {
			access, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			t.Logf("nginx:\n%s\naccess log:\n%s", log.String(), access)
		}
	})
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(pem)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		// publicHost resolves to loopback, whatever the port.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && host == publicHost {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(transport.CloseIdleConnections)
	p := &proxy{cmd: cmd, log: log,
		base:  fmt.Sprintf("https://%s:%d", publicHost, httpsPort),
		plain: fmt.Sprintf("127.0.0.1:%d", httpPort),
		client: &http.Client{Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := p.client.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("nginx exited: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer /healthz within 30s (last: %v)\n%s", err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
