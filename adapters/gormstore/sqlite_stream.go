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
//
// In a sorted stream the key is instead the sort keys' values of the last
// row, as stored (see sqlStyle.leadKeys), then its id; none before the
// first row.
type sqliteKey struct {
	at     any // Unix microseconds, or the stored value of a skipped row
	id     int64
	sorted []any
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
func (s *sqliteEngine) stream(ctx context.Context, q domain.Query, sel selectSQL, batchSize int, h ports.BatchHandler) error {
	// The batch grows to what the stream really reads: a dashboard whose
	// filter holds a few tickets must not reserve room for a whole batch.
	batch := make([]domain.Ticket, 0, min(batchSize, initialBatchCap))
	after := sqliteKeyOf(q.After)
	if q.AfterKey != nil {
		after = sqliteKey{sorted: sortArgs(&sqliteStyle, q.Sort, q.AfterKey)}
	}
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
		s.observe(ctx, QuerySnapshot, start, err)
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
	text := sel.text
	switch {
	case !sel.sorted:
		args = append(append(args, after.at, after.id), sel.filterArgs...)
		args = append(args, n)
	case after.sorted == nil:
		text = sel.first
		args = append(append(args, sel.filterArgs...), n)
	default:
		args = sel.afterKeyArgs(args, after.sorted, n)
	}
	rows, err := s.sql.QueryContext(ctx, text, args...)
	if err != nil {
		return batch, 0, after, err
	}
	defer rows.Close()
	var sc sqliteScanner
	read, lastBad := 0, false
	var lastID int64
	var lead []any // the sort keys' values of the row, as stored
	var leadPtrs []any
	for i := range sel.lead {
		if i == 0 {
			lead, leadPtrs = make([]any, sel.lead), make([]any, sel.lead)
		}
		leadPtrs[i] = &lead[i]
	}
	for rows.Next() {
		read++
		batch = append(batch, domain.Ticket{})
		t := &batch[len(batch)-1]
		err := sc.scan(rows, t, leadPtrs...)
		lastID = t.ID
		var bad *undecodableRow
		switch {
		case errors.As(err, &bad):
			s.skipRow(QuerySnapshot, bad)
			if !sel.sorted {
				after = sqliteKey{at: sc.badAt, id: bad.id}
			}
			lastBad = true
			batch = batch[:len(batch)-1]
		case err != nil:
			return batch, read, after, err
		default:
			lastBad = false
		}
	}
	if sel.sorted && read > 0 {
		after = sqliteKey{sorted: sortedKey(lead, lastID)}
	}
	if !sel.sorted && !lastBad && len(batch) > 0 {
		after = sqliteKey{at: batch[len(batch)-1].UpdatedAt.UnixMicro(), id: batch[len(batch)-1].ID}
	}
	return batch, read, after, rows.Err()
}

// sortedKey is the key of a sorted batch's row: its sort keys' values as
// scanned, text as text (a []byte parameter would be a BLOB, which SQLite
// orders after every text), then its id.
func sortedKey(lead []any, id int64) []any {
	key := make([]any, 0, len(lead)+1)
	for _, v := range lead {
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		key = append(key, v)
	}
	return append(key, id)
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
