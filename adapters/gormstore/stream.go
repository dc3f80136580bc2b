package gormstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// StreamTickets implements ports.TicketSource with keyset batches: each
// batch is one query for the next batchSize rows after the last row of the
// batch before, read through the driver under gorm (see engine) and handed
// to h. A connection is held only while a batch is read, never while h
// runs, so a slow client does not hold one. The batch slice is reused from
// batch to batch; what each batch allocates is the rows' own strings.
//
// When ctx ends the running query is cancelled on the server (PostgreSQL gets
// a cancel request; SQLite is interrupted) and an error wrapping ctx.Err()
// is returned.
func (s *Store) StreamTickets(ctx context.Context, q domain.Query, batchSize int, h ports.BatchHandler) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stream tickets: %w", err)
	}
	if err := q.Validate(); err != nil {
		return err
	}
	if batchSize <= 0 {
		batchSize = ports.DefaultBatchSize
	}
	sel := buildSelect(s.eng.style(), q, s.keysetUnion(ctx, q.Sort))
	if err := s.eng.stream(ctx, q, sel, batchSize, h); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("stream tickets: %w", ctxErr)
		}
		return fmt.Errorf("stream tickets: %w", unavailable(err))
	}
	return nil
}

// initialBatchCap is the room a stream's batch starts with; it grows by
// doubling as rows come, once per stream.
const initialBatchCap = 64

// Ticket returns the ticket with the given id, or an ENotFound error.
func (s *Store) Ticket(ctx context.Context, id int64) (domain.Ticket, error) {
	start := time.Now()
	t, found, err := s.eng.ticket(ctx, id)
	s.observe(ctx, QueryTicket, start, err)
	if err != nil {
		return domain.Ticket{}, fmt.Errorf("ticket %d: %w", id, unavailable(err))
	}
	if !found {
		return domain.Ticket{}, &domain.Error{Code: domain.ENotFound, Param: "id", Message: fmt.Sprintf("no ticket %d", id)}
	}
	return t, nil
}
