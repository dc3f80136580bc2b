package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/ports/portstest"
)

// mainPackage is the command the process-level tests run.
const mainPackage = "github.com/ticketstream/ticketstream/cmd/ticketstream"

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build builds the ticketstream binary into a temporary directory, once.
func build() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ticketstream-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "ticketstream")
		out, err := exec.Command("go", "build", "-o", binary, mainPackage).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build %s: %v\n%s", mainPackage, err, out)
		}
	})
	return binary, buildErr
}

// removeBinary deletes what build made.
func removeBinary() {
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
}

// Binary returns the path of the ticketstream binary, for tests that run
// real server processes. MainWithBinary builds it before any test starts,
// outside every test's time; without it, it is built on first use.
func Binary(tb testing.TB) string {
	tb.Helper()
	path, err := build()
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// Process is `ticketstream serve` running as its own process.
type Process struct {
	cmd      *exec.Cmd
	Addr     string // the public listener's address (REST, sockets, pages)
	Internal string // the internal listener's address (metrics)
	mu       sync.Mutex
	stderr   strings.Builder // everything the process logged so far
	stopOnce sync.Once
	stopErr  error
}

// Stop sends sig and waits for the process to exit; a process still running
// after timeout is killed, and that is the error. Only the first call acts;
// later ones return its result.
func (p *Process) Stop(sig os.Signal, timeout time.Duration) error {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case p.stopErr = <-done:
		case <-time.After(timeout):
			_ = p.cmd.Process.Kill()
			<-done
			p.stopErr = fmt.Errorf("still running %s after %v: killed", timeout, sig)
		}
	})
	return p.stopErr
}

// Pid is the process's id, for reading its CPU time and memory.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns what the process has written to stderr so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// StartProcess runs the binary's serve command with args on a random
// loopback port (its internal listener on another) and waits until it
// listens. It is interrupted (SIGINT) and must exit 0 when the test ends,
// unless the test stopped it itself (Stop).
func StartProcess(tb testing.TB, args ...string) *Process {
	tb.Helper()
	return StartProcessWithEnv(tb, nil, args...)
}

// StartProcessWithEnv is StartProcess with env added to the process's
// environment (settings as TICKETSTREAM_… variables, as a service manager
// gives them).
func StartProcessWithEnv(tb testing.TB, env []string, args ...string) *Process {
	tb.Helper()
	cmd := exec.Command(Binary(tb), append([]string{"serve", "--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &Process{cmd: cmd}
	addrs := make(chan [2]string, 1)
	exited := make(chan struct{}) // stderr closed: the process ended
	go func() {
		defer close(exited)
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
	// A busy machine may take long to start the process: wait until it
	// listens or ends, and give up only at the test's deadline.
	var giveUp <-chan time.Time
	if deadline, ok := portstest.Deadline(tb); ok {
		giveUp = time.After(time.Until(deadline))
	}
	select {
	case a := <-addrs:
		p.Addr, p.Internal = a[0], a[1]
	case <-exited:
		err := cmd.Wait()
		tb.Fatalf("the server process ended (%v) before it listened:\n%s", err, p.Output())
	case <-giveUp:
		cmd.Process.Kill()
		cmd.Wait()
		tb.Fatalf("the server process was not listening by the test's deadline:\n%s", p.Output())
	}
	tb.Cleanup(func() {
		if err := p.Stop(os.Interrupt, time.Minute); err != nil {
			tb.Errorf("server process %s: %v\n%s", p.Addr, err, p.Output())
		}
	})
	return p
}
