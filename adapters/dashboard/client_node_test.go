package dashboard_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClientJS_UnderNode runs the JavaScript client's tests
// (jstest/client.test.mjs) under Node against the real server: the
// ticketstream binary, built here, which the Node tests start, stop and
// restart themselves. Without Node the test skips — except under CI=true,
// where it fails (.ci/services installs Node).
func TestClientJS_UnderNode(t *testing.T) {
	node := findNode(t)
	bin := buildServer(t)

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	args := []string{"--test", "--test-reporter=spec"}
	if !hasGlobalWebSocket(ctx, node) {
		args = append([]string{"--experimental-websocket"}, args...) // Node 20: the WebSocket of Node 22, behind a flag
	}
	args = append(args, filepath.Join("jstest", "client.test.mjs"), filepath.Join("jstest", "tickets.test.mjs"))
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(), "TICKETSTREAM_BIN="+bin, "TICKETSTREAM_TMP="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("node %s:\n%s", strings.Join(args, " "), out)
}

// findNode returns Node 20 or later.
func findNode(t *testing.T) string {
	t.Helper()
	fail := t.Skip
	if os.Getenv("CI") == "true" {
		fail = t.Fatal
	}
	node, err := exec.LookPath("node")
	if err != nil {
		node, err = exec.LookPath("nodejs")
	}
	if err != nil {
		fail("no Node found: install it (apt-get install nodejs) to test the JavaScript client")
		return ""
	}
	out, err := exec.Command(node, "-p", "process.versions.node").Output()
	if err != nil {
		fail("node -p process.versions.node: ", err)
		return ""
	}
	version := strings.TrimSpace(string(out))
	if major, _, _ := strings.Cut(version, "."); atoi(major) < 20 {
		fail("Node ", version, " is too old: the JavaScript client needs 20 or later")
	}
	return node
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func hasGlobalWebSocket(ctx context.Context, node string) bool {
	return exec.CommandContext(ctx, node, "-e", `process.exit(typeof WebSocket === "function" ? 0 : 1)`).Run() == nil
}

// buildServer builds the ticketstream binary into a temporary directory,
// with the race detector when this test has it: the packages then come from
// the build cache the test's own build filled.
func buildServer(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command builds the server: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ticketstream")
	args := []string{"build", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, "github.com/ticketstream/ticketstream/cmd/ticketstream")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goCmd, args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
