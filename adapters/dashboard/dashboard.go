// Package dashboard serves ticketstream's live support dashboard: one page
// of plain HTML, CSS and JavaScript modules embedded in the binary, with no
// build step and nothing loaded from outside the server. The page is the
// reference client of the WebSocket protocol: it subscribes, keeps the
// tickets of its filter, resumes from its cursor after a disconnect and
// shows the counts the server pushes.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/ticketstream/ticketstream/adapters/httperror"
	"github.com/ticketstream/ticketstream/domain"
)

//go:embed static
var static embed.FS

// AssetPrefix is the path under which the page's scripts and styles are
// served; the page itself is served at "/".
const AssetPrefix = "/ui/"

// securityHeaders keep the page to its own server: scripts, styles and
// sockets from this origin only, never framed by another site, and no
// referrer (the page may carry a token in its fragment).
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"X-Frame-Options":        "DENY",
	// no-cache: revalidate with the ETag, so a new binary's page is picked
	// up at once and an unchanged one costs a 304.
	"Cache-Control": "no-cache",
}

type file struct {
	body        []byte
	etag        string
	contentType string
}

// Handler serves the dashboard: GET / is the page, GET /ui/<file> its
// scripts, styles and icon (also at /favicon.ico), GET /ui/settings.json
// its Config — among them
// /ui/js/client.js, the protocol client the page is built on, which other
// programs may import, and its TypeScript declarations
// /ui/js/client.d.ts. Anything else is a JSON 404.
type Handler struct {
	files map[string]file // by request path
	mod   time.Time
}

// Config is what the page is told by its server rather than by its
// address. The zero Config is the defaults.
type Config struct {
	// SLA holds the first-response and resolution targets per priority
	// behind the badges on unsolved tickets; nil means DefaultSLA.
	SLA SLA
}

// Validate reports a setting the page cannot be served with.
func (c Config) Validate() error { return c.SLA.Validate() }

// SettingsPath is where the page reads its Config, as JSON.
const SettingsPath = AssetPrefix + "settings.json"

// settingsJSON is the body served at SettingsPath: the targets in seconds,
// by priority.
func (c Config) settingsJSON() ([]byte, error) {
	sla := c.SLA
	if sla == nil {
		sla = DefaultSLA()
	}
	type target struct {
		FirstResponse int64 `json:"first_response_s"`
		Resolution    int64 `json:"resolution_s"`
	}
	body := struct {
		SLA map[string]target `json:"sla"`
	}{SLA: map[string]target{}}
	for p, t := range sla {
		body.SLA[string(p)] = target{int64(t.FirstResponse.Seconds()), int64(t.Resolution.Seconds())}
	}
	return json.Marshal(body)
}

// New loads the embedded page with its settings. It fails if cfg is
// invalid or the binary was built without its files.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{files: map[string]file{}}
	settings, err := cfg.settingsJSON()
	if err != nil {
		return nil, fmt.Errorf("dashboard settings: %w", err)
	}
	sum := sha256.Sum256(settings)
	h.files[SettingsPath] = file{body: settings, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: "application/json"}
	root, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("dashboard files: %w", err)
	}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(name))
		switch {
		case strings.HasSuffix(name, ".js"):
			ct = "text/javascript; charset=utf-8" // modules need a JavaScript type, whatever the system's MIME table says
		case strings.HasSuffix(name, ".d.ts"):
			ct = "application/typescript; charset=utf-8" // TypeScript declarations, not the MPEG stream many MIME tables map .ts to
		}
		reqPath := AssetPrefix + name
		if name == "index.html" {
			reqPath = "/"
		}
		f := file{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: ct}
		h.files[reqPath] = f
		if name == "favicon.svg" {
			// What browsers and tools ask for without reading the page:
			// an answer, where a 404 is an error in every console.
			h.files["/favicon.ico"] = f
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard files: %w", err)
	}
	if _, ok := h.files["/"]; !ok {
		return nil, fmt.Errorf("dashboard files: index.html is missing")
	}
	return h, nil
}

// Paths lists the request paths the handler serves, for routers that mount
// routes one by one.
func (h *Handler) Paths() []string {
	paths := make([]string, 0, len(h.files))
	for p := range h.files {
		paths = append(paths, p)
	}
	return paths
}

// ServeHTTP answers GET and HEAD for the page and its files.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if !ok {
		httperror.Write(w, http.StatusNotFound, httperror.Body{Error: httperror.Detail{Code: string(domain.ENotFound), Message: "no such page"}})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httperror.Write(w, http.StatusMethodNotAllowed, httperror.Body{Error: httperror.Detail{Code: "method_not_allowed", Message: "use GET"}})
		return
	}
	hdr := w.Header()
	for k, v := range securityHeaders {
		hdr.Set(k, v)
	}
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("ETag", f.etag)
	// ServeContent answers If-None-Match with 304 and ranges with 206.
	http.ServeContent(w, r, "", h.mod, bytes.NewReader(f.body))
}
