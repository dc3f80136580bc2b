package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
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

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// buildBinary builds ticketstream once per test run, from the module root.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ticketstream-deploy")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "ticketstream")
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/ticketstream")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// TestMain removes the binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}
