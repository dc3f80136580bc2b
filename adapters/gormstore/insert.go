package gormstore

import (
	"context"
	"fmt"

	"github.com/ticketstream/ticketstream/domain"
)

// InsertTickets writes tickets, ids included, in one transaction: with COPY
// on PostgreSQL, with prepared multi-row INSERTs on SQLite. Every ticket is
// validated first; an invalid one fails the call with its EInvalid error and
// writes nothing.
func (s *Store) InsertTickets(ctx context.Context, tickets []domain.Ticket) error {
	for i := range tickets {
		if err := tickets[i].Validate(); err != nil {
			return fmt.Errorf("ticket %d: %w", tickets[i].ID, err)
		}
	}
	if len(tickets) == 0 {
		return nil
	}
	if err := s.eng.insert(ctx, tickets); err != nil {
		return fmt.Errorf("insert %d tickets: %w", len(tickets), err)
	}
	return nil
}

var insertColumns = []string{"id", "team", "subject", "status", "priority", "requester", "assignee", "tags", "created_at", "updated_at"}

// UpdateTicket writes t over the stored ticket with its id: every field but
// the id and created_at. It returns an EInvalid error for an invalid ticket
// and ENotFound if no ticket has the id.
func (s *Store) UpdateTicket(ctx context.Context, t domain.Ticket) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("ticket %d: %w", t.ID, err)
	}
	if t.Tags == nil {
		t.Tags = []string{}
	}
	res, err := s.eng.update(ctx, t)
	if err != nil {
		return fmt.Errorf("update ticket %d: %w", t.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return &domain.Error{Code: domain.ENotFound, Param: "id", Message: fmt.Sprintf("no ticket %d", t.ID)}
	}
	return nil
}
