package leaktest

import (
	"strings"
	"testing"
	"time"
)

func TestFind(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(stop <-chan struct{})
		leaks bool
	}{
		{"no goroutine", func(<-chan struct{}) {}, false},
		{"a goroutine that ends soon", func(<-chan struct{}) {
			go time.Sleep(50 * time.Millisecond)
		}, false},
		// Waited for 200 ms only: a test of the report, not of the wait.
		{"a goroutine that waits for ever", func(stop <-chan struct{}) {
			go func() { <-stop }()
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := Snapshot()
			stop := make(chan struct{})
			defer close(stop)
			tc.start(stop)
			settle := settle // a goroutine that ends gets as long as in Main
			if tc.leaks {
				settle = 200 * time.Millisecond
			}
			err := find(before, settle)
			if (err != nil) != tc.leaks {
				t.Fatalf("Find: %v, want a leak %v", err, tc.leaks)
			}
			if err != nil && !strings.Contains(err.Error(), "leaktest.TestFind") {
				t.Errorf("the report does not show where the goroutine was started:\n%v", err)
			}
		})
	}
}
