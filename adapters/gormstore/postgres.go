package gormstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// withPgx runs fn on one pooled connection as a native pgx.Conn, skipping
// database/sql's per-value conversions: pgx scans binary columns straight
// into the ticket's fields.
func (s *Store) withPgx(ctx context.Context, fn func(*pgx.Conn) error) error {
	conn, err := s.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres connection is %T, not pgx", dc)
		}
		return fn(sc.Conn())
	})
}

// streamPostgres is StreamTickets for PostgreSQL. One goroutine reads the
// keyset pages as raw rows, pipelined: as soon as page k has arrived its
// last row gives the cursor of page k+1, whose query is sent at once, and
// page k goes to the caller's goroutine, which decodes it and hands it to h
// while the database works on k+1 — so the reader does nothing but keep
// PostgreSQL busy. A connection is held only while a page is read: when
// the caller falls behind, the reader waits for a free page with its
// connection back in the pool.
func (s *Store) streamPostgres(ctx context.Context, q domain.Query, batchSize int, h ports.BatchHandler) error {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	read := make(chan *rawBatch, rawPagesInFlight) // holds every page: a send never blocks
	free := make(chan *rawBatch, rawPagesInFlight)
	for range rawPagesInFlight {
		free <- new(rawBatch)
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(read)
		readErr <- s.readPages(rctx, q, batchSize, free, read)
	}()
	var dec pageDecoder
	batch := make([]domain.Ticket, 0, batchSize)
	var err error
	for rb := range read {
		if err == nil {
			if batch, err = dec.decode(rb, batch); err == nil {
				err = handleInBatches(ctx, h, batch, batchSize)
			}
		}
		free <- rb
		if err != nil {
			stop() // the reader ends its query and closes read
		}
	}
	if rerr := <-readErr; err == nil {
		err = rerr // nil, a database error, or the caller's cancellation
	}
	return err
}

// rawPagesInFlight is how many raw pages one stream holds at most: one
// being read, one waiting, one being decoded and handled.
const rawPagesInFlight = 3

// readPages reads q's keyset pages, pipelined, each into a page from free,
// and sends them on read, until the last page, an error, or ctx ends. Pages
// start at the batch size, so that the first rows come at once, and double
// with each further page up to pageGrowth batches: a long stream pays
// PostgreSQL's per-query cost less often.
func (s *Store) readPages(ctx context.Context, q domain.Query, batchSize int, free <-chan *rawBatch, read chan<- *rawBatch) error {
	st := pgStream{s: s, ctx: ctx, sel: buildSelect(Postgres, q)}
	remaining := q.Limit
	page, maxPage := batchSize, batchSize*pageGrowth
	size := func() int {
		if q.Limit > 0 {
			return min(page, remaining)
		}
		return page
	}
	take := func() (*rawBatch, error) {
		select {
		case rb := <-free:
			return rb, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	send := func(rb *rawBatch) error {
		select {
		case read <- rb:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cur, err := take()
	if err != nil {
		return err
	}
	n := size()
	start := time.Now()
	err = s.withPgx(ctx, func(c *pgx.Conn) error {
		rows, err := st.query(c, q.After, n)
		if err != nil {
			return err
		}
		return st.readRaw(rows, cur, 0)
	})
	s.observe(QuerySnapshot, start, err)
	for err == nil && cur.rows > 0 {
		remaining -= cur.rows
		if cur.rows < n || (q.Limit > 0 && remaining <= 0) {
			return send(cur) // the last page
		}
		last, cerr := st.lastCursor(cur)
		if cerr != nil {
			return cerr
		}
		rowBytes := len(cur.data) / cur.rows // read before cur is handed on
		next, terr := take()
		if terr != nil {
			return terr
		}
		page = min(page*2, maxPage)
		n = size()
		start = time.Now()
		err = s.withPgx(ctx, func(c *pgx.Conn) error {
			rows, err := st.query(c, last, n)
			if err != nil {
				return err
			}
			if err := send(cur); err != nil {
				rows.Close()
				return err
			}
			return st.readRaw(rows, next, n*rowBytes)
		})
		s.observe(QuerySnapshot, start, err)
		cur = next
	}
	return err
}

// handleInBatches hands batch to h in slices of at most batchSize tickets,
// stopping at once when ctx ends.
func handleInBatches(ctx context.Context, h ports.BatchHandler, batch []domain.Ticket, batchSize int) error {
	for len(batch) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(len(batch), batchSize)
		if err := h.HandleBatch(batch[:k]); err != nil {
			return err
		}
		batch = batch[k:]
	}
	return nil
}

// pageGrowth bounds how large a long stream's pages grow, in batches: 4,
// measured on 200,000 tickets through REST (1,000-row pages 0.49-0.55 s,
// 4,000-row 0.43-0.45 s, 10,000-row 0.42-0.46 s), so that a stream holds
// at most rawPagesInFlight pages of 4 batches of raw rows and one page of
// decoded tickets.
const pageGrowth = 4

// pgStream is the reader's state in one streamPostgres call.
type pgStream struct {
	s      *Store
	ctx    context.Context
	sel    selectSQL
	args   []any
	fields []pgconn.FieldDescription // of the first page; every page has them
	fast   bool
	last   pageDecoder // the reader's own, for lastCursor
}

// query sends the batch query for the n rows after `after`; its rows are
// read later by readRaw.
func (st *pgStream) query(c *pgx.Conn, after domain.Cursor, n int) (pgx.Rows, error) {
	at, id := dbCursor(after)
	st.args = append(append(append(st.args[:0], at, id), st.sel.filterArgs...), n)
	return c.Query(st.ctx, st.sel.text, st.args...)
}

// readRaw copies every row of rows into rb, undecoded. expectBytes, when
// known from the page before, sizes rb's buffer once instead of letting it
// grow by doubling: a stream's pages grow from 1,000 to 4,000 rows, and
// growing each buffer step by step left ~17 MB of garbage per
// 200,000-ticket stream.
func (st *pgStream) readRaw(rows pgx.Rows, rb *rawBatch, expectBytes int) error {
	defer rows.Close()
	rb.reset()
	if expectBytes > cap(rb.data) {
		rb.data = make([]byte, 0, expectBytes+expectBytes/8) // room for rows a little longer than the last page's
	}
	if st.fields == nil {
		st.fields = slices.Clone(rows.FieldDescriptions())
		st.fast = fastDecodable(st.fields)
	}
	rb.fields, rb.fast = st.fields, st.fast
	for rows.Next() {
		vals := rows.RawValues()
		if len(vals) != len(pgColumnOIDs) {
			return fmt.Errorf("%w: %d columns", errBadRow, len(vals))
		}
		if err := rb.add(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

// lastCursor returns the position of rb's last row, reading only its
// (updated_at, id) when rows are binary.
func (st *pgStream) lastCursor(rb *rawBatch) (domain.Cursor, error) {
	return st.last.lastCursor(rb)
}

// pageDecoder turns raw pages into tickets. Not safe for concurrent use:
// the reader and the stream's goroutine have one each.
type pageDecoder struct {
	vals    [len(pgColumnOIDs)][]byte
	dec     rowDecoder
	typeMap *pgtype.Map
}

// lastCursor returns the position of rb's last row, reading only its
// (updated_at, id) when rows are binary.
func (pd *pageDecoder) lastCursor(rb *rawBatch) (domain.Cursor, error) {
	rb.row(rb.rows-1, pd.vals[:])
	if rb.fast {
		return lastCursor(pd.vals[:])
	}
	var t domain.Ticket
	if err := pd.decodeGeneric(rb.fields, &t); err != nil {
		return domain.Cursor{}, err
	}
	return t.Cursor(), nil
}

// decode turns rb's rows into batch, reusing its tickets' memory.
func (pd *pageDecoder) decode(rb *rawBatch, batch []domain.Ticket) ([]domain.Ticket, error) {
	batch = slices.Grow(batch[:0], rb.rows)[:rb.rows]
	if rb.fast {
		pd.dec.text.fill(rb)
	}
	for i := range rb.rows {
		rb.row(i, pd.vals[:])
		t := &batch[i]
		var err error
		if rb.fast {
			err = pd.dec.decode(pd.vals[:], t)
		} else {
			err = pd.decodeGeneric(rb.fields, t)
		}
		if err != nil {
			return batch[:0], err
		}
	}
	return batch, nil
}

// decodeGeneric decodes pd.vals with pgx's type map: the path for a server
// that sends a column in a type or format the fast decoder does not expect.
func (pd *pageDecoder) decodeGeneric(fields []pgconn.FieldDescription, t *domain.Ticket) error {
	if pd.typeMap == nil {
		pd.typeMap = pgtype.NewMap()
	}
	dst := [...]any{&t.ID, &t.Team, &t.Subject, (*string)(&t.Status), (*string)(&t.Priority),
		&t.Requester, &t.Assignee, &t.Tags, &t.CreatedAt, &t.UpdatedAt}
	for i, f := range fields {
		if err := pd.typeMap.Scan(f.DataTypeOID, f.Format, pd.vals[i], dst[i]); err != nil {
			return fmt.Errorf("scan ticket column %s: %w", f.Name, err)
		}
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return nil
}

// scanPostgres reads one row of ticketColumns into t.
func scanPostgres(rows pgx.Rows, t *domain.Ticket) error {
	err := rows.Scan(&t.ID, &t.Team, &t.Subject, (*string)(&t.Status), (*string)(&t.Priority),
		&t.Requester, &t.Assignee, &t.Tags, &t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return fmt.Errorf("scan ticket: %w", err)
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return nil
}

func (s *Store) readByIDPostgres(ctx context.Context, id int64) (domain.Ticket, bool, error) {
	var t domain.Ticket
	found := false
	err := s.withPgx(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE id = $1", id)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			found = true
			if err := scanPostgres(rows, &t); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return t, false, nil
	}
	return t, found, err
}
