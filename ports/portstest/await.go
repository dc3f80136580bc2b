package portstest

import (
	"testing"
	"time"
)

// reportMargin is how long before the test binary's deadline (go test
// -timeout) Await gives up: long enough for the test to say what it waited
// for and run its cleanups, instead of the binary panicking with every
// goroutine's stack.
const reportMargin = 30 * time.Second

// Deadline returns when waits in tb give up: shortly before the test
// binary's deadline, so that the slowest machine gets all the time the run
// allows. ok is false when the run has no deadline (-timeout 0) or tb is
// not a test (a benchmark has none).
func Deadline(tb testing.TB) (deadline time.Time, ok bool) {
	d, isTest := tb.(interface{ Deadline() (time.Time, bool) })
	if !isTest {
		return time.Time{}, false
	}
	if deadline, ok = d.Deadline(); !ok {
		return time.Time{}, false
	}
	return deadline.Add(-reportMargin), true
}

// Await polls cond until it is true. Unlike WaitFor it has no limit of its
// own: it fails tb, saying what it waited for, only at tb's Deadline. Use
// it where the wait is for a condition, not a promise about time, so that
// a busy machine makes a slow test rather than a failing one.
func Await(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	start := time.Now()
	deadline, bounded := Deadline(tb)
	for !cond() {
		if bounded && time.Now().After(deadline) {
			tb.Fatalf("gave up after %v, as the test binary's -timeout nears, waiting for %s", time.Since(start).Round(time.Millisecond), what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
