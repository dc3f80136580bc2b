package portstest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// Source is an in-memory ports.TicketSource.
type Source struct {
	// Tickets are the rows, in any order; the fake sorts a copy on first use.
	// Do not change them after the first StreamTickets call.
	Tickets []domain.Ticket
	// Err, when set, is returned after FailAfter tickets have been handed
	// out (FailAfter 0: before the first batch): a source failing mid-stream.
	Err       error
	FailAfter int
	// BatchDelay is slept before each batch (honouring ctx): a slow database.
	BatchDelay time.Duration
	// StreamTicketsFn, when set, replaces the behaviour above entirely.
	StreamTicketsFn func(ctx context.Context, q domain.Query, batchSize int, h ports.BatchHandler) error

	once   sync.Once
	sorted []domain.Ticket

	mu        sync.Mutex
	calls     int
	lastQuery domain.Query
}

var _ ports.TicketSource = (*Source)(nil)

// Calls returns how many times StreamTickets was called.
func (s *Source) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// LastQuery returns the Query of the latest StreamTickets call.
func (s *Source) LastQuery() domain.Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastQuery
}

// StreamTickets implements ports.TicketSource over Tickets. A query without
// filters hands out sub-slices of the sorted rows and so allocates nothing,
// which keeps the core's benchmarks honest.
func (s *Source) StreamTickets(ctx context.Context, q domain.Query, batchSize int, h ports.BatchHandler) error {
	s.mu.Lock()
	s.calls++
	s.lastQuery = q
	s.mu.Unlock()
	if s.StreamTicketsFn != nil {
		return s.StreamTicketsFn(ctx, q, batchSize, h)
	}
	s.once.Do(func() { s.sorted = SortedTickets(s.Tickets) })
	if batchSize <= 0 {
		batchSize = ports.DefaultBatchSize
	}
	rows := s.sorted
	if len(q.Sort) > 0 {
		rows = sortedBy(rows, q.Sort, q.AfterKey)
	}
	if !q.After.IsZero() {
		i, _ := slices.BinarySearchFunc(rows, q.After, func(t domain.Ticket, c domain.Cursor) int {
			return t.Cursor().Compare(c)
		})
		for i < len(rows) && !q.After.Before(&rows[i]) {
			i++
		}
		rows = rows[i:]
	}
	filtered := q.Filters()
	var batch []domain.Ticket
	if filtered {
		batch = make([]domain.Ticket, 0, batchSize)
	}
	sent := 0
	for len(rows) > 0 {
		if q.Limit > 0 && sent == q.Limit {
			return nil
		}
		if s.Err != nil && sent >= s.FailAfter {
			return fmt.Errorf("portstest source: %w", s.Err)
		}
		if err := s.sleep(ctx); err != nil {
			return err
		}
		n := batchSize
		if q.Limit > 0 {
			n = min(n, q.Limit-sent)
		}
		if s.Err != nil {
			n = min(n, s.FailAfter-sent)
		}
		var out []domain.Ticket
		if filtered {
			batch = batch[:0]
			for len(rows) > 0 && len(batch) < n {
				if q.MatchesFilter(&rows[0]) {
					batch = append(batch, rows[0])
				}
				rows = rows[1:]
			}
			out = batch
		} else {
			n = min(n, len(rows))
			out, rows = rows[:n], rows[n:]
		}
		if len(out) == 0 {
			break
		}
		sent += len(out)
		if err := h.HandleBatch(out); err != nil {
			return fmt.Errorf("portstest source: %w", err)
		}
	}
	if s.Err != nil && sent >= s.FailAfter {
		return fmt.Errorf("portstest source: %w", s.Err)
	}
	return nil
}

func (s *Source) sleep(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("portstest source: %w", err)
	}
	if s.BatchDelay <= 0 {
		return nil
	}
	timer := time.NewTimer(s.BatchDelay)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("portstest source: %w", ctx.Err())
	case <-timer.C:
		return nil
	}
}

// SortedTickets returns a copy of tickets in the stable (updated_at, id) order.
func SortedTickets(tickets []domain.Ticket) []domain.Ticket {
	out := slices.Clone(tickets)
	slices.SortFunc(out, func(a, b domain.Ticket) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// sortedBy returns a copy of rows in order s, only those after the ticket
// of key after when it is set.
func sortedBy(rows []domain.Ticket, s domain.Sort, after *domain.RowKey) []domain.Ticket {
	out := slices.Clone(rows)
	slices.SortFunc(out, func(a, b domain.Ticket) int { return s.CompareTickets(&a, &b) })
	if after != nil {
		i := 0
		for i < len(out) {
			k := domain.KeyOf(&out[i])
			if s.Compare(&k, after) > 0 {
				break
			}
			i++
		}
		out = out[i:]
	}
	return out
}

// Select returns what a correct TicketSource yields for q from tickets: the
// reference every contract check compares with.
func Select(tickets []domain.Ticket, q domain.Query) []domain.Ticket {
	var out []domain.Ticket
	rows := SortedTickets(tickets)
	if len(q.Sort) > 0 {
		rows = sortedBy(rows, q.Sort, q.AfterKey)
	}
	for _, t := range rows {
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		if q.MatchesFilter(&t) && q.After.Before(&t) {
			out = append(out, t)
		}
	}
	return out
}
