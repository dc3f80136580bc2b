// Package leaktest checks that a test binary's tests left no goroutine
// behind.
//
// It is the unit tests' stand-in for go.uber.org/goleak, which the system
// tests in the e2e module use: a test-only module required by the main
// module would be required by everyone who imports ticketstream, so the
// main module's own tests make do with the standard library. The check is
// the same in kind: goroutines that did not exist before the tests ran and
// still exist once they have had time to finish are reported with their
// stacks.
package leaktest

import (
	"bytes"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// settle is how long goroutines get to finish after the last test: closing
// a connection or cancelling a context ends its goroutines soon after, not
// at once.
const settle = 10 * time.Second

// Main runs the tests and exits non-zero if they failed or left
// goroutines running. It is a TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }
func Main(m *testing.M) int {
	before := goroutineIDs(stacks())
	code := m.Run()
	if code != 0 {
		return code
	}
	if err := Find(before); err != nil {
		fmt.Println("leaktest:", err)
		return 1
	}
	return 0
}

// Find waits for every goroutine not in before, other than the caller, to
// end, and returns an error naming those still running after a while.
func Find(before map[string]bool) error { return find(before, settle) }

func find(before map[string]bool, settle time.Duration) error {
	deadline := time.Now().Add(settle)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		leaked := leakedSince(before)
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutines outlived the tests:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(wait)
	}
}

// Snapshot returns the goroutines running now, for Find.
func Snapshot() map[string]bool { return goroutineIDs(stacks()) }

var header = regexp.MustCompile(`^goroutine (\d+) \[`)

// leakedSince returns the stacks of goroutines running now that are not in
// before, leaving out the calling goroutine.
func leakedSince(before map[string]bool) []string {
	all := stacks()
	self := selfID()
	var leaked []string
	for _, g := range strings.Split(all, "\n\n") {
		m := header.FindStringSubmatch(g)
		if m == nil || before[m[1]] || m[1] == self || ignored(g) {
			continue
		}
		leaked = append(leaked, g)
	}
	return leaked
}

// ignored says whether a goroutine is one the standard library starts once
// per process and never ends: os/signal's loop, started by the first
// signal.Notify.
func ignored(stack string) bool {
	return strings.Contains(stack, "os/signal.loop") || strings.Contains(stack, "os/signal.signal_recv")
}

func goroutineIDs(all string) map[string]bool {
	ids := map[string]bool{}
	for _, g := range strings.Split(all, "\n\n") {
		if m := header.FindStringSubmatch(g); m != nil {
			ids[m[1]] = true
		}
	}
	return ids
}

// stacks returns every goroutine's stack.
func stacks() string {
	for n := 1 << 16; ; n *= 2 {
		buf := make([]byte, n)
		if got := runtime.Stack(buf, true); got < n {
			return string(buf[:got])
		}
	}
}

// selfID returns the calling goroutine's id.
func selfID() string {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	m := header.FindSubmatch(bytes.TrimSpace(buf[:n]))
	if m == nil {
		return ""
	}
	return string(m[1])
}
