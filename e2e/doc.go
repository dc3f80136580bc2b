// Package e2e holds ticketstream's whole-system tests: the fully wired
// server against real PostgreSQL and SQLite databases, the built binary as
// separate processes, faults injected between them, and the dashboard in
// headless Chromium. They are slow and need PostgreSQL and Chromium; under
// `go test -short` they are skipped, which leaves the fast unit tests of
// every other package.
package e2e
