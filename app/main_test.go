package app

import (
	"os"
	"testing"

	"github.com/ticketstream/ticketstream/internal/leaktest"
)

// TestMain checks that no test leaves a goroutine behind, and prints the
// analysis's tables when benchmarks ran.
func TestMain(m *testing.M) {
	code := leaktest.Main(m)
	printBenchTables(os.Stdout)
	os.Exit(code)
}
