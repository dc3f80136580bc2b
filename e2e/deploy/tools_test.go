package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ticketstream/ticketstream/e2e"
)

// requireTool returns the path of the command name, found on PATH or in
// /usr/sbin (where Debian puts nginx, often off a user's PATH), or skips t
// saying how to install it — fails it under CI=true, where nothing may
// pass by skipping.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	if path, err := exec.LookPath(filepath.Join("/usr/sbin", name)); err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not installed: %s (.ci/services does it)", name, install)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// buildBinary is the ticketstream binary the e2e harness built before the
// tests started.
func buildBinary(t *testing.T) string {
	t.Helper()
	return e2e.Binary(t)
}

// TestMain builds the binary before any test's clock starts, and removes
// it after; under -short the deployment tests do not run.
func TestMain(m *testing.M) { e2e.MainWithBinary(m) }
