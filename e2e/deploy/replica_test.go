package deploy

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/e2e"
)

// replica is one `ticketstream serve` process, named for the test's
// messages.
type replica struct {
	*e2e.Process
	name string
}

// startReplica runs the server on free loopback ports with env added to
// its environment and waits until it listens. It is stopped when the test
// ends, if it is still running.
func startReplica(t *testing.T, name string, env []string, args ...string) *replica {
	t.Helper()
	return &replica{Process: e2e.StartProcessWithEnv(t, env, args...), name: name}
}

// stop sends SIGTERM, as systemd does, and waits for a clean exit; after
// 30s (the unit's TimeoutStopSec) it kills the process.
func (r *replica) stop() error { return r.Stop(syscall.SIGTERM, 30*time.Second) }

// sockets reads the replica's open dashboard sockets from its metrics.
func (r *replica) sockets(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + r.Internal + "/metrics")
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
