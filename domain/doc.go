// Package domain holds ticketstream's vocabulary: the support Ticket, the
// Query a dashboard asks with, the Cursor that marks a position in the stable
// (updated_at, id) order, and the Error type whose Code every adapter
// translates into its own protocol (an HTTP status, a WebSocket close code, a
// CLI exit status).
//
// The package is pure Go: it imports nothing of ours and no framework, so the
// rules it enforces hold the same for every adapter.
package domain
