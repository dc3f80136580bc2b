package e2e

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

const (
	// DemoCount is how many demo tickets StartServer's server writes into
	// its empty database.
	DemoCount = 3000
	// Secret is the token secret tests give a server to turn auth on.
	Secret = "test-secret-test-secret-test-secret!"
)

// DemoTickets are the tickets the server writes into an empty database.
var DemoTickets = demodata.New(1).Tickets(DemoCount)

// Server is the fully wired server running in the test process.
type Server struct {
	URL  string // of the database
	Base string // http://127.0.0.1:port
	// Internal is the base URL of the internal listener's handler
	// (metrics, profiler) on a test server of its own.
	Internal string
	Server   *ticketstream.Server
	// Stop stops the server and closes its database, returning what Run
	// returned; the test's cleanup calls it too, a second call does
	// nothing.
	Stop func() error
}

// StartServer runs the fully wired server on a random loopback port against
// a fresh database of dialect d, with mutate (if not nil) changing its
// configuration first, and returns it once it is ready. When the test ends
// it is stopped and must have given back every pooled buffer.
func StartServer(tb testing.TB, d gormstore.Dialect, mutate func(*ticketstream.Config)) *Server {
	tb.Helper()
	return StartServerLogging(tb, d, mutate, nil)
}

// StartServerLogging is StartServer with the server logging to log.
func StartServerLogging(tb testing.TB, d gormstore.Dialect, mutate func(*ticketstream.Config), log *slog.Logger) *Server {
	tb.Helper()
	url := "sqlite:" + filepath.Join(tb.TempDir(), "t.db")
	if d == gormstore.Postgres {
		url = pgtest.NewDatabase(tb)
	}
	cfg := ticketstream.Config{
		Database: gormstore.Config{URL: url, Migrate: true},
		Server:   ticketstream.ServerConfig{Addr: "127.0.0.1:0", DemoTickets: DemoCount, DemoEnd: demodata.Epoch, ShutdownTimeout: 5 * time.Second},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return serve(tb, cfg, ln, log)
}

// RestartServer starts a server again on addr over the database at url,
// with no demo tickets, until the test ends: a server that was stopped
// (Server.Stop) coming back where its clients left it.
func RestartServer(tb testing.TB, url, addr string) *Server {
	tb.Helper()
	var ln net.Listener
	portstest.Await(tb, "the stopped server's port "+addr+" to be free", func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	cfg := ticketstream.Config{
		Database: gormstore.Config{URL: url, Migrate: true},
		Server:   ticketstream.ServerConfig{Addr: addr, ShutdownTimeout: 5 * time.Second},
	}
	return serve(tb, cfg, ln, nil)
}

// serve runs the server cfg describes on ln until the test ends, and
// returns it once it is ready.
func serve(tb testing.TB, cfg ticketstream.Config, ln net.Listener, log *slog.Logger) *Server {
	tb.Helper()
	srv, cleanup, err := ticketstream.InitializeServer(context.Background(), cfg, log)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-done
		cleanup()
		return err
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("server stopped with %v", err)
		}
		if n := srv.App.Streamer.PoolStats().InUse(); n != 0 {
			tb.Errorf("%d pooled buffers in use after shutdown", n)
		}
	})
	internal := httptest.NewServer(srv.Internal)
	tb.Cleanup(internal.Close)
	r := &Server{URL: cfg.Database.URL, Base: "http://" + ln.Addr().String(), Internal: internal.URL, Server: srv, Stop: stop}
	WaitReady(tb, r.Base)
	return r
}

// WaitReady waits until the server at base answers /readyz with 200.
func WaitReady(tb testing.TB, base string) {
	tb.Helper()
	portstest.Await(tb, base+"/readyz to answer 200", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// SQLiteURL returns the URL of a fresh SQLite database in a directory the
// test removes when it ends.
func SQLiteURL(tb testing.TB) string { return "sqlite:" + filepath.Join(tb.TempDir(), "t.db") }
