package dashboard_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/dashboard"
)

func serve(t *testing.T, h http.Handler, method, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(body)
}

func TestHandler_ServesThePageAndItsFiles(t *testing.T) {
	h, err := dashboard.New(dashboard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		status       int
		contentType  string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/ui/style.css", 200, "text/css; charset=utf-8"},
		{"GET", "/ui/js/main.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/ui/js/client.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/ui/js/client.d.ts", 200, "application/typescript; charset=utf-8"},
		{"GET", "/ui/favicon.svg", 200, "image/svg+xml"},
		{"GET", "/favicon.ico", 200, "image/svg+xml"},
		{"GET", "/ui/missing.js", 404, "application/json"},
		{"GET", "/ui/../dashboard.go", 404, "application/json"},
		{"POST", "/", 405, "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := serve(t, h, tc.method, tc.path, nil)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.contentType {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.contentType)
			}
			if tc.status != 200 {
				var e struct{ Error struct{ Code string } }
				if json.Unmarshal([]byte(body), &e) != nil || e.Error.Code == "" {
					t.Fatalf("error body %q is not our JSON error", body)
				}
				return
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Fatalf("Content-Security-Policy %q", csp)
			}
			if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("headers %v", resp.Header)
			}
		})
	}
}

func TestHandler_RevalidatesWithETag(t *testing.T) {
	h, err := dashboard.New(dashboard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := serve(t, h, "GET", "/ui/js/main.js", nil)
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
	}
	resp, body := serve(t, h, "GET", "/ui/js/main.js", http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Fatalf("revalidation: %d with %d bytes, want 304", resp.StatusCode, len(body))
	}
}

// TestHandler_LoadsNothingFromOutside: every script, style and link of the
// page is the server's own, so the dashboard works offline and its
// Content-Security-Policy can stay 'self'.
func TestHandler_LoadsNothingFromOutside(t *testing.T) {
	h, err := dashboard.New(dashboard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//|from\s+["'](https?:)?//|import\(["'](https?:)?//`)
	for _, p := range h.Paths() {
		_, body := serve(t, h, "GET", p, nil)
		if m := external.FindString(body); m != "" {
			t.Errorf("%s loads something from outside: %q", p, m)
		}
	}
	if len(h.Paths()) < 6 {
		t.Fatalf("paths %v: files missing from the embed", h.Paths())
	}
}
