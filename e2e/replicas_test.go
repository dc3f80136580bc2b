package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// buildBinary builds ticketstream once per test run, for tests that need
// real server processes.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ticketstream-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "ticketstream")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/ticketstream/ticketstream/cmd/ticketstream").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binary
}

// serverProcess is `ticketstream serve` running as its own process.
type serverProcess struct {
	cmd      *exec.Cmd
	addr     string
	internal string // the internal listener's address (metrics)
	mu       sync.Mutex
	stderr   strings.Builder // everything the process logged so far
}

// output returns what the process has written to stderr so far.
func (p *serverProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startProcess runs the binary's serve command with args on a random
// loopback port (its internal listener on another) and waits until it
// listens. It is interrupted (SIGINT) and must exit 0 when the test ends.
func startProcess(tb testing.TB, args ...string) *serverProcess {
	tb.Helper()
	cmd := exec.Command(buildBinary(tb), append([]string{"serve", "--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &serverProcess{cmd: cmd}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		internal := ""
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.Write(sc.Bytes())
			p.stderr.WriteByte('\n')
			p.mu.Unlock()
			var line struct {
				Msg          string `json:"msg"`
				Addr         string `json:"addr"`
				InternalAddr string `json:"internal_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			if line.InternalAddr != "" {
				internal = line.InternalAddr
			}
			if line.Msg == "listening" && !sent {
				addrs <- [2]string{line.Addr, internal}
				sent = true
			}
		}
	}()
	select {
	case a := <-addrs:
		p.addr, p.internal = a[0], a[1]
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		tb.Fatalf("the server process did not start listening in 30s:\n%s", p.output())
	}
	tb.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			tb.Errorf("server process %s: %v", p.addr, err)
		}
	})
	return p
}

// Several serve processes on one PostgreSQL database each deliver every
// change to their own dashboards.
func TestReplicas_TwoProcessesEachDeliverEveryChange(t *testing.T) {
	db := pgtest.NewDatabase(t)
	a := startProcess(t, "--database", db, "--demo-tickets", "500")
	b := startProcess(t, "--database", db, "--demo-tickets", "0")
	ctx := context.Background()
	views := []*wsclient.View{{}, {}, {}, {}}
	var clients []*wsclient.Client
	for i, v := range views {
		addr := a.addr
		if i%2 == 1 {
			addr = b.addr
		}
		c, err := wsclient.Dial(ctx, "ws://"+addr, "", "", v)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Conn.CloseNow()
		if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i := range 30 {
		if _, err := conn.Exec(ctx, `UPDATE tickets SET subject = $1, updated_at = clock_timestamp() WHERE id = $2`, fmt.Sprintf("replicated %d", i), 1+i*7); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `DELETE FROM tickets WHERE id = 3`); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool {
			_, deleted := v.Tickets[3]
			return !deleted && v.Tickets[1+29*7].Subject == "replicated 29"
		}); err != nil {
			t.Fatalf("dashboard %d (replica %s): %v", i, map[bool]string{true: "a", false: "b"}[i%2 == 0], err)
		}
		for j := range 30 {
			if got := c.View.Tickets[int64(1+j*7)].Subject; got != fmt.Sprintf("replicated %d", j) {
				t.Fatalf("dashboard %d has ticket %d as %q", i, 1+j*7, got)
			}
		}
		if c.View.Counts.Duplicates+c.View.Counts.Regressions != 0 || len(c.View.Tickets) != 499 {
			t.Fatalf("dashboard %d: %d tickets, counts %+v", i, len(c.View.Tickets), c.View.Counts)
		}
		if !domain.IsLiveCursor(c.View.Cursor) {
			t.Fatalf("dashboard %d holds cursor %q", i, c.View.Cursor)
		}
	}
}
