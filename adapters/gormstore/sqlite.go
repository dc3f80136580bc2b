package gormstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// readBatchSQLite appends up to n tickets after `after` to batch.
func (s *Store) readBatchSQLite(ctx context.Context, sel selectSQL, after domain.Cursor, n int, batch []domain.Ticket) ([]domain.Ticket, error) {
	at, id := dbCursor(after)
	args := make([]any, 0, len(sel.filterArgs)+3)
	args = append(append(append(args, at.UnixMicro(), id), sel.filterArgs...), n)
	rows, err := s.sql.QueryContext(ctx, sel.text, args...)
	if err != nil {
		return batch, err
	}
	defer rows.Close()
	var sc sqliteScanner
	for rows.Next() {
		batch = append(batch, domain.Ticket{})
		if err := sc.scan(rows, &batch[len(batch)-1]); err != nil {
			return batch, err
		}
	}
	return batch, rows.Err()
}

// sqliteScanner reads rows whose timestamps are Unix microseconds and whose
// tags are JSON; its buffers are reused from row to row.
type sqliteScanner struct {
	tags             []byte
	created, updated int64
}

// scan reads one row of ticketColumns into t; with lead, the row starts
// with that many extra columns, scanned into lead.
func (sc *sqliteScanner) scan(rows *sql.Rows, t *domain.Ticket, lead ...any) error {
	var err error
	if len(lead) == 0 {
		err = rows.Scan(&t.ID, &t.Team, &t.Subject, (*string)(&t.Status), (*string)(&t.Priority),
			&t.Requester, &t.Assignee, &sc.tags, &sc.created, &sc.updated)
	} else {
		err = rows.Scan(append(lead, &t.ID, &t.Team, &t.Subject, (*string)(&t.Status), (*string)(&t.Priority),
			&t.Requester, &t.Assignee, &sc.tags, &sc.created, &sc.updated)...)
	}
	if err != nil {
		return fmt.Errorf("scan ticket: %w", err)
	}
	if err := json.Unmarshal(sc.tags, &t.Tags); err != nil {
		return fmt.Errorf("ticket %d: tags are not a JSON array of strings: %w", t.ID, err)
	}
	if t.Tags == nil {
		t.Tags = []string{}
	}
	t.CreatedAt, t.UpdatedAt = time.UnixMicro(sc.created).UTC(), time.UnixMicro(sc.updated).UTC()
	return nil
}

func (s *Store) readByIDSQLite(ctx context.Context, id int64) (domain.Ticket, bool, error) {
	rows, err := s.sql.QueryContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE id = ?", id)
	if err != nil {
		return domain.Ticket{}, false, err
	}
	defer rows.Close()
	var t domain.Ticket
	if !rows.Next() {
		return t, false, rows.Err()
	}
	var sc sqliteScanner
	if err := sc.scan(rows, &t); err != nil {
		return t, false, err
	}
	return t, true, rows.Err()
}
