package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// replica is one `ticketstream serve` process.
type replica struct {
	name     string
	cmd      *exec.Cmd
	addr     string // the public listener, which nginx proxies to
	internal string // /metrics
	mu       sync.Mutex
	log      strings.Builder
	stopOnce sync.Once
	stopErr  error
}

// output is what the replica logged so far.
func (r *replica) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// startReplica runs the server on free loopback ports with env added to
// its environment and waits until it listens. It is stopped when the test
// ends, if it is still running.
func startReplica(t *testing.T, name string, env []string, args ...string) *replica {
	t.Helper()
	cmd := exec.Command(buildBinary(t), append([]string{"serve",
		"--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, cmd: cmd}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		internal, sent := "", false
		for sc.Scan() {
			r.mu.Lock()
			r.log.Write(sc.Bytes())
			r.log.WriteByte('\n')
			r.mu.Unlock()
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
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("replica %s: %v\n%s", name, err, r.output())
		}
	})
	select {
	case a := <-addrs:
		r.addr, r.internal = a[0], a[1]
	case <-time.After(60 * time.Second):
		t.Fatalf("replica %s did not listen within 60s:\n%s", name, r.output())
	}
	return r
}

// stop sends SIGTERM, as systemd does, and waits for a clean exit; after
// 30s (the unit's TimeoutStopSec) it kills the process. Only the first
// call acts; later ones return its result.
func (r *replica) stop() error {
	r.stopOnce.Do(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- r.cmd.Wait() }()
		select {
		case r.stopErr = <-done:
		case <-time.After(30 * time.Second):
			_ = r.cmd.Process.Kill()
			<-done
			r.stopErr = fmt.Errorf("still running 30s after SIGTERM: killed")
		}
	})
	return r.stopErr
}

// sockets reads the replica's open dashboard sockets from its metrics.
func (r *replica) sockets(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + r.internal + "/metrics")
	if err != nil {
		t.Fatalf("metrics of replica %s: %v", r.name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ticketstream_websocket_connections "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metrics of replica %s: %q", r.name, sc.Text())
			}
			return int(n)
		}
	}
	t.Fatalf("metrics of replica %s have no ticketstream_websocket_connections", r.name)
	return 0
}
