// Package process holds the tests and benchmarks that run the built
// ticketstream binary as separate server processes: several replicas on
// one database, secrets kept out of everything the binary writes, and the
// end-to-end, live-latency and resume benchmarks. e2e.MainWithBinary builds
// the binary once, before any test's clock starts.
package process
