// Package e2e holds ticketstream's whole-system tests and the harness they
// run on. The tests (the _test.go files) drive the fully wired server
// against real PostgreSQL and SQLite databases, the built binary as
// separate processes, faults injected between them, and the dashboard in
// headless Chromium.
//
// The tests that run the built binary as separate processes, and the
// benchmarks that measure it, are in the subpackage process; the
// dashboard's tests in Chromium are in the subpackage browser.
//
// The harness is ordinary code any test package may import:
//
//   - StartServer runs the wired server in the test process on a fresh
//     database; StartProcess runs the built binary (Binary) as its own
//     process.
//   - FaultProxy sits between a server and its database and breaks the
//     connections the way networks and restarts do.
//   - Context and Patience, like portstest.Await, bound waits by the test
//     binary's -timeout, never by a budget sized on a quiet machine.
//   - Main is the TestMain of a package of system tests: under
//     `go test -short` it skips them, leaving the fast unit tests of every
//     other package. MainWithBinary also builds the binary before any
//     test's clock starts.
package e2e
