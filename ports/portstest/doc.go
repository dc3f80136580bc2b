// Package portstest holds fakes of every port and the contract suites that
// every implementation of a port must pass.
//
// The fakes are plain structs configured by fields (Source{Tickets: rows,
// FailAfter: 250, Err: boom}); where a test needs more, a function field
// (StreamTicketsFn, WriteChunkFn) replaces the behaviour. They are safe for
// concurrent use and copy the bytes they keep, since pooled buffers are reused.
//
// The contract suites (TestTicketSourceContract, TestChunkSinkContract) run
// against the fakes here and against every real adapter, so that a fake can
// never drift from what the adapters do.
package portstest
