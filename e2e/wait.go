package e2e

import (
	"context"
	"testing"
	"time"
)

// reportMargin is how long before the test binary's deadline (go test
// -timeout) a wait gives up: long enough for the test to report what it
// waited for and run its cleanups, instead of the binary panicking with
// every goroutine's stack.
const reportMargin = 30 * time.Second

// deadliner is what *testing.T adds to testing.TB: when `go test -timeout`
// stops the binary.
type deadliner interface {
	Deadline() (time.Time, bool)
}

// Deadline returns when waits in tb give up: shortly before the test
// binary's deadline, so that the slowest machine gets all the time the
// run allows. ok is false when the run has no deadline (-timeout 0), or
// when tb is a benchmark.
func Deadline(tb testing.TB) (deadline time.Time, ok bool) {
	d, isT := tb.(deadliner)
	if !isT {
		return time.Time{}, false
	}
	if deadline, ok = d.Deadline(); !ok {
		return time.Time{}, false
	}
	return deadline.Add(-reportMargin), true
}

// Context returns a context that ends when tb's test ends or at its
// Deadline: the bound of a test's dials and reads, instead of a budget
// sized on a quiet machine.
func Context(tb testing.TB) context.Context {
	ctx := tb.Context()
	if deadline, ok := Deadline(tb); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		tb.Cleanup(cancel)
	}
	return ctx
}

// Await polls cond until it is true. It waits for the condition, not for a
// length of time: it fails tb, saying what it waited for, only at tb's
// Deadline, so a slow or busy machine is a slow test, not a failing one.
func Await(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	start := time.Now()
	deadline, bounded := Deadline(tb)
	for !cond() {
		if bounded && time.Now().After(deadline) {
			tb.Fatalf("gave up after %v (the test binary's -timeout is near) waiting for %s", time.Since(start).Round(time.Millisecond), what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Patience returns how long tb may still wait for something: until its
// Deadline, or an hour when the run has none. It is the limit to give
// helpers that take one.
func Patience(tb testing.TB) time.Duration {
	if deadline, ok := Deadline(tb); ok {
		return max(time.Until(deadline), time.Second)
	}
	return time.Hour
}
