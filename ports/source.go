package ports

import (
	"context"

	"github.com/ticketstream/ticketstream/domain"
)

// DefaultBatchSize is how many tickets a TicketSource reads per batch unless
// told otherwise: 1000, as in the analysis the product grew from.
const DefaultBatchSize = 1000

// TicketSource reads the tickets that match a Query.
type TicketSource interface {
	// StreamTickets calls h.HandleBatch with successive batches of the
	// tickets that match q's filters, strictly after q.After, in ascending
	// (updated_at, id) order, at most q.Limit in all (0: no limit). Each batch
	// holds at least 1 and at most batchSize tickets (batchSize <= 0 means
	// DefaultBatchSize). The batch slice and the tickets in it belong to the
	// source and are valid only until HandleBatch returns: sources reuse them.
	//
	// StreamTickets returns when every matching ticket has been handled, when
	// HandleBatch returns an error (returned wrapped), or when ctx is done (an
	// error wrapping ctx.Err(), with the database query cancelled).
	StreamTickets(ctx context.Context, q domain.Query, batchSize int, h BatchHandler) error
}

// BatchHandler receives the batches of TicketSource.StreamTickets. It is an
// interface rather than a func so that the core can pass a pooled value and
// start a stream without allocating a closure.
type BatchHandler interface {
	// HandleBatch processes one batch; a non-nil error stops the stream.
	HandleBatch(batch []domain.Ticket) error
}

// BatchHandlerFunc adapts a function to BatchHandler.
type BatchHandlerFunc func(batch []domain.Ticket) error

// HandleBatch calls f(batch).
func (f BatchHandlerFunc) HandleBatch(batch []domain.Ticket) error { return f(batch) }
