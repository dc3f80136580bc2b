package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
)

// Main is the TestMain of a package of system tests. Under -short it runs
// nothing: these tests need PostgreSQL, Chromium and minutes, and
// `go test -short ./...` is the fast run of the unit tests. Otherwise it
// runs the tests and checks that none left a goroutine behind.
func Main(m *testing.M) { run(m, false) }

// MainWithBinary is Main for tests that run the ticketstream binary: it
// builds it before the first test starts, so that the build counts against
// no test's time, nor against -timeout, whose clock starts in m.Run.
func MainWithBinary(m *testing.M) { run(m, true) }

func run(m *testing.M, withBinary bool) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("system tests skipped under -short")
		os.Exit(0)
	}
	if withBinary {
		if _, err := build(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if flag.Lookup("test.bench").Value.String() == "" {
		// Tests (not benchmarks, whose clients must cost the server's
		// figures nothing) check every message against the schemas.
		wsclient.CheckMessage = CheckServerMessage
	}
	code := m.Run()
	removeBinary()
	if code == 0 {
		// database/sql runs one connection opener per DB until the DB is
		// closed; every other goroutine must be gone.
		if err := goleak.Find(goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
