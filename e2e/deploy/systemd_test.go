package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit_Verifies runs systemd-analyze verify on
// docs/deploy/ticketstream.service. verify also checks that ExecStart's
// binary exists and is executable, which /usr/local/bin/ticketstream is
// not on a build machine: the unit is verified as a copy whose ExecStart
// names the binary built for the test, and any other complaint — an
// unknown key, a bad value — fails the test, since verify prints those as
// warnings and still exits 0.
func TestSystemdUnit_Verifies(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze", "apt-get install systemd")
	raw, err := os.ReadFile("../../docs/deploy/ticketstream.service")
	if err != nil {
		t.Fatal(err)
	}
	const installed = "ExecStart=/usr/local/bin/ticketstream "
	if !strings.Contains(string(raw), installed) {
		t.Fatalf("docs/deploy/ticketstream.service no longer holds %q", installed)
	}
	unit := filepath.Join(t.TempDir(), "ticketstream.service")
	text := strings.Replace(string(raw), installed, "ExecStart="+buildBinary(t)+" ", 1)
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
