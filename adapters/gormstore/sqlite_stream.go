package gormstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// sqliteKey is the (updated_at, id) a keyset batch continues after, as
// stored: when the last row read had an updated_at that is not an integer
// (and was skipped), the next batch starts after that value, which SQLite
// orders with the others, and not before it again.
type sqliteKey struct {
	at any // Unix microseconds, or the stored value of a skipped row
	id int64
}

// sqliteKeyOf returns the key of cursor c.
func sqliteKeyOf(c domain.Cursor) sqliteKey {
	at, id := dbCursor(c)
	return sqliteKey{at: at.UnixMicro(), id: id}
}

// stream is StreamTickets for SQLite: one keyset query per batch, read
// through database/sql on gorm's pool: the rows' timestamps and tags need
// decoding of their own (see sqliteScanner), which gorm's reflection would
// only slow down.
func (s *sqliteEngine) stream(ctx context.Context, q domain.Query, batchSize int, h ports.BatchHandler) error {
	sel := buildSelect(&sqliteStyle, q)
	// The batch grows to what the stream really reads: a dashboard whose
	// filter holds a few tickets must not reserve room for a whole batch.
	batch := make([]domain.Ticket, 0, min(batchSize, initialBatchCap))
	after := sqliteKeyOf(q.After)
	remaining := q.Limit
	for {
		n := batchSize
		if q.Limit > 0 {
			n = min(n, remaining)
		}
		start := time.Now()
		var (
			read int
			err  error
		)
		batch, read, after, err = s.readBatch(ctx, sel, after, n, batch[:0])
		s.observe(QuerySnapshot, start, err)
		if err != nil {
			return err
		}
		if len(batch) > 0 { // empty when every row read was skipped
			if err := h.HandleBatch(batch); err != nil {
				return err
			}
		}
		remaining -= len(batch)
		if read < n || (q.Limit > 0 && remaining == 0) {
			return nil
		}
	}
}

// readBatch appends up to n tickets after `after` to batch. It returns
// how many rows it read, skipped ones included, and the key of the last.
func (s *sqliteEngine) readBatch(ctx context.Context, sel selectSQL, after sqliteKey, n int, batch []domain.Ticket) ([]domain.Ticket, int, sqliteKey, error) {
	args := make([]any, 0, len(sel.filterArgs)+3)
	args = append(append(append(args, after.at, after.id), sel.filterArgs...), n)
	rows, err := s.sql.QueryContext(ctx, sel.text, args...)
	if err != nil {
		return batch, 0, after, err
	}
	defer rows.Close()
	var sc sqliteScanner
	read, lastBad := 0, false
	for rows.Next() {
		read++
		batch = append(batch, domain.Ticket{})
		t := &batch[len(batch)-1]
		err := sc.scan(rows, t)
		var bad *undecodableRow
		switch {
		case errors.As(err, &bad):
			s.skipRow(QuerySnapshot, bad)
			after, lastBad = sqliteKey{at: sc.badAt, id: bad.id}, true
			batch = batch[:len(batch)-1]
		case err != nil:
			return batch, read, after, err
		default:
			lastBad = false
		}
	}
	if !lastBad && len(batch) > 0 {
		after = sqliteKey{at: batch[len(batch)-1].UpdatedAt.UnixMicro(), id: batch[len(batch)-1].ID}
	}
	return batch, read, after, rows.Err()
}

// sqliteScanner reads rows whose timestamps are Unix microseconds and whose
// tags are JSON; its buffers are reused from row to row.
type sqliteScanner struct {
	tags             []byte
	created, updated int64
	badAt            any // updated_at as stored, of the last undecodable row
}

// scan reads one row of ticketColumns into t; with lead, the row starts
// with that many extra columns, scanned into lead. A row with a value of
// the wrong type (SQLite keeps what it is given) is an *undecodableRow
// error, with t.ID and lead read.
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
		return sc.undecodable(rows, t, lead, err)
	}
	if err := json.Unmarshal(sc.tags, &t.Tags); err != nil {
		sc.badAt = sc.updated
		return &undecodableRow{id: t.ID, err: fmt.Errorf("tags are not a JSON array of strings: %w", err)}
	}
	if t.Tags == nil {
		t.Tags = []string{}
	}
	t.CreatedAt, t.UpdatedAt = time.UnixMicro(sc.created).UTC(), time.UnixMicro(sc.updated).UTC()
	if err := checkYears(t); err != nil {
		sc.badAt = sc.updated
		return &undecodableRow{id: t.ID, err: err}
	}
	return nil
}

// undecodable reads again the row whose scan failed with err, the ticket
// columns as they are stored, for its id, its lead columns and its
// updated_at, and returns it as an *undecodableRow. If even those cannot be
// read, the scan's error is returned as it is.
func (sc *sqliteScanner) undecodable(rows *sql.Rows, t *domain.Ticket, lead []any, err error) error {
	var raw [ticketColumnCount - 1]any // every ticket column but the id
	dest := make([]any, 0, len(lead)+ticketColumnCount)
	dest = append(append(dest, lead...), &t.ID)
	for i := range raw {
		dest = append(dest, &raw[i])
	}
	if rows.Scan(dest...) != nil {
		return fmt.Errorf("scan ticket: %w", err)
	}
	sc.badAt = raw[len(raw)-1]
	return &undecodableRow{id: t.ID, err: err}
}

// ticket reads one ticket by its primary key.
func (s *sqliteEngine) ticket(ctx context.Context, id int64) (domain.Ticket, bool, error) {
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
