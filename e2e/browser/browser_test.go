package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// findChromium returns the browser the dashboard tests drive: Debian's
// chromium, or $TICKETSTREAM_CHROMIUM. Without one the tests skip — except
// under CI=true, where a missing browser fails them (.ci/run installs it).
func findChromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("TICKETSTREAM_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	const how = "no Chromium found: install it (apt-get install chromium) or set TICKETSTREAM_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(how)
	}
	t.Skip(how)
	return ""
}

// browserTab is one browser tab on the dashboard, with what its scripts threw.
type browserTab struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	errors  []string // uncaught exceptions
	urls    []string // of every request and socket the page opened
	console []string // what the page wrote to its console
}

// seen returns the URLs the page requested and what it wrote to its
// console, joined, to check that a secret appears in neither.
func (p *browserTab) seen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.urls, "\n") + "\n" + strings.Join(p.console, "\n")
}

// newBrowserTab starts a headless Chromium of its own for the test and opens a
// tab of width×height. The browser is closed when the test ends.
func newBrowserTab(t *testing.T, width, height int) *browserTab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findChromium(t)),
		chromedp.NoSandbox, // tests may run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Without these Chromium keeps calling home, which a closed
		// network refuses many times over.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	p := &browserTab{t: t}
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		// Runs in the tab's event loop: record only.
		p.mu.Lock()
		defer p.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			p.errors = append(p.errors, fmt.Sprintf("uncaught at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		case *runtime.EventConsoleAPICalled:
			for _, a := range ev.Args {
				p.console = append(p.console, string(a.Value)+" "+a.Description)
			}
		case *network.EventRequestWillBeSent:
			p.urls = append(p.urls, ev.Request.URL)
		case *network.EventWebSocketCreated:
			p.urls = append(p.urls, ev.URL)
		}
	}))
	p.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.errors) > 0 {
			t.Errorf("the page's scripts failed:\n%s", strings.Join(p.errors, "\n"))
		}
	})
	return p
}

// do runs browser actions, failing the test on an error.
func (p *browserTab) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *browserTab, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true or timeout passes,
// and returns how long it took.
func (p *browserTab) waitFor(what, cond string, timeout time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			state, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.getElementById("conn").textContent`))
			at, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
			p.t.Fatalf("%s: not after %v (the page says %q, at %s)", what, timeout, state, at)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// screenshot saves the page as a PNG among the test artifacts:
// $TICKETSTREAM_ARTIFACTS, or ticketstream-artifacts in the temporary
// directory. It returns the file's path.
func (p *browserTab) screenshot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("TICKETSTREAM_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ticketstream-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
	return path
}
