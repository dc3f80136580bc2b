// Package gormstore is ticketstream's database adapter: a ports.TicketSource
// over PostgreSQL (production) or an embedded SQLite file (the zero-setup
// default), chosen by the database URL.
//
// gorm opens both dialects, owns the connection pool and serves the small
// queries; goose applies the versioned SQL migrations embedded here. The
// streaming hot path reads through the driver underneath gorm (pgx for
// PostgreSQL), because gorm's reflection costs a third or more of the rows
// per second the ticket stream needs: see StreamTickets.
//
// Store is written once for both databases. What each does its own way is
// an engine (engine.go), implemented in the files named for its database
// (postgres_*.go, sqlite_*.go) and chosen once, by Open, from the URL.
//
// Streams read in keyset batches: each batch is one indexed query that
// continues from the (updated_at, id) of the last row, holds a connection
// only while it reads, and stops on the server when the context ends. No
// OFFSET, no COUNT, and the same memory for a thousand rows or ten million.
package gormstore
