package internalapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/hostguard"
	"github.com/ticketstream/ticketstream/adapters/internalapi"
)

func TestInternal_ServesMetricsAndProfilerButNeverCmdline(t *testing.T) {
	t.Parallel()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up 1\n") })
	srv := httptest.NewServer(internalapi.New(internalapi.Config{Metrics: metrics, Profiler: true, Hosts: hostguard.Loopback().WithIPLiterals()}))
	defer srv.Close()
	off := httptest.NewServer(internalapi.New(internalapi.Config{Metrics: metrics}))
	defer off.Close()
	for _, tc := range []struct {
		base, path, host string
		status           int
		contains         string
	}{
		{srv.URL, "/metrics", "", 200, "up 1"},
		{srv.URL, "/debug/pprof/", "", 200, "goroutine"},
		{srv.URL, "/debug/pprof/goroutine?debug=1", "", 200, "goroutine profile"},
		{srv.URL, "/debug/pprof/cmdline", "", 404, `"not_found"`},
		{srv.URL, "/debug/pprof/cmdline?x=1", "localhost:9090", 404, `"not_found"`},
		{srv.URL, "/metrics", "192.0.2.1:9090", 200, "up 1"},
		{srv.URL, "/metrics", "rebind.attacker.test:9090", 421, `"misdirected_request"`},
		{srv.URL, "/debug/pprof/heap", "rebind.attacker.test", 421, `"misdirected_request"`},
		{off.URL, "/debug/pprof/", "", 404, `"not_found"`},
		{off.URL, "/metrics", "192.0.2.1:9090", 421, `"misdirected_request"`},
	} {
		req, _ := http.NewRequest("GET", tc.base+tc.path, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.contains) {
			t.Errorf("%s (Host %q): HTTP %d %.200s; want %d with %q", tc.path, tc.host, resp.StatusCode, body, tc.status, tc.contains)
		}
	}
}
