package gormstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// withPgx runs fn on one pooled connection as a native pgx.Conn, skipping
// database/sql's per-value conversions: pgx scans binary columns straight
// into the ticket's fields.
func (s *postgresEngine) withPgx(ctx context.Context, fn func(*pgx.Conn) error) error {
	conn, err := s.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(*pgxConn)
		if !ok {
			return fmt.Errorf("postgres connection is %T, not pgx", dc)
		}
		return fn(pc.Conn.Conn())
	})
}

// stream is StreamTickets for PostgreSQL, on the native pgx.Conn under a
// connection of gorm's pool: pgx hands over each row's raw binary values,
// which pageDecoder turns into tickets with no reflection and few
// allocations, and which database/sql would convert value by value first.
//
// One goroutine reads the keyset pages as raw rows, pipelined: as soon as
// page k has arrived its last row gives the cursor of page k+1, whose query
// is sent at once, and page k goes to the caller's goroutine, which decodes
// it and hands it to h while the database works on k+1 — so the reader
// does nothing but keep PostgreSQL busy. A connection is held only while a page is read: when
// the caller falls behind, the reader waits for a free page with its
// connection back in the pool.
func (s *postgresEngine) stream(ctx context.Context, q domain.Query, sel selectSQL, batchSize int, h ports.BatchHandler) error {
	for {
		delivered, read, last, err := s.streamPages(ctx, q, sel, batchSize, h)
		if err != nil || q.Limit == 0 || read < q.Limit || delivered == read {
			return err
		}
		// The limit was reached in rows read, some of them skipped: read
		// on for the tickets still owed. A short response would tell a
		// REST client that there is nothing more.
		if q.Limit -= delivered; len(q.Sort) > 0 {
			q.AfterKey = last.key
		} else {
			q.After = last.after
		}
	}
}

// streamPages is one pipelined run of stream. It returns how many tickets
// it delivered, how many rows it read (undecodable ones included) and the
// position of the last row read.
func (s *postgresEngine) streamPages(ctx context.Context, q domain.Query, sel selectSQL, batchSize int, h ports.BatchHandler) (delivered, read int, last pgPos, err error) {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	pages := make(chan *rawBatch, rawPagesInFlight) // holds every page: a send never blocks
	free := make(chan *rawBatch, rawPagesInFlight)
	for range rawPagesInFlight {
		free <- new(rawBatch)
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(pages)
		readErr <- s.readPages(rctx, q, sel, batchSize, free, pages)
	}()
	dec := pageDecoder{skip: func(r *undecodableRow) { s.skipRow(QuerySnapshot, r) }, sorted: len(q.Sort) > 0}
	// The batch grows to what the stream really reads: a dashboard whose
	// filter holds a few tickets must not reserve room for a whole batch.
	batch := make([]domain.Ticket, 0, min(batchSize, initialBatchCap))
	for rb := range pages {
		if err == nil && rb.rows > 0 {
			read += rb.rows
			if last, err = dec.lastPos(rb); err == nil {
				if batch, err = dec.decode(rb, batch); err == nil {
					delivered += len(batch)
					err = handleInBatches(ctx, h, batch, batchSize)
				}
			}
		}
		free <- rb
		if err != nil {
			stop() // the reader ends its query and closes pages
		}
	}
	if rerr := <-readErr; err == nil {
		err = rerr // nil, a database error, or the caller's cancellation
	}
	return delivered, read, last, err
}

// rawPagesInFlight is how many raw pages one stream holds at most: one
// being read, one waiting, one being decoded and handled.
const rawPagesInFlight = 3

// readPages reads q's keyset pages, pipelined, each into a page from free,
// and sends them on read, until the last page, an error, or ctx ends. Pages
// start at the batch size, so that the first rows come at once, and double
// with each further page up to pageGrowth batches: a long stream pays
// PostgreSQL's per-query cost less often.
func (s *postgresEngine) readPages(ctx context.Context, q domain.Query, sel selectSQL, batchSize int, free <-chan *rawBatch, read chan<- *rawBatch) error {
	// A search is planned for its own text (with the statistics of
	// migration 00008): a generic plan, made for any text, walks the
	// (updated_at, id) order through every ticket where a rare word needs
	// a few probes of the search index.
	st := pgStream{ctx: ctx, sel: sel, sort: q.Sort}
	st.last.sorted = st.sel.sorted
	st.planEach = st.sel.search
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
		rows, err := st.query(c, pgPos{after: q.After, key: q.AfterKey}, n)
		if err != nil {
			return err
		}
		return st.readRaw(rows, cur, 0)
	})
	s.observe(ctx, QuerySnapshot, start, err)
	for err == nil && cur.rows > 0 {
		remaining -= cur.rows
		if cur.rows < n || (q.Limit > 0 && remaining <= 0) {
			return send(cur) // the last page
		}
		last, cerr := st.last.lastPos(cur)
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
		s.observe(ctx, QuerySnapshot, start, err)
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

// pageGrowth bounds how large a long stream's pages grow, in batches: past
// four batches larger pages no longer made a 200,000-ticket REST response
// faster (BenchmarkE2E_OneShot200k), and a stream holds at most
// rawPagesInFlight pages of pageGrowth batches of raw rows and one page of
// decoded tickets.
const pageGrowth = 4

// pgStream is the reader's state in one stream call.
type pgStream struct {
	ctx    context.Context
	sel    selectSQL
	sort   domain.Sort
	args   []any
	fields []pgconn.FieldDescription // of the first page; every page has them
	fast   bool
	last   pageDecoder // the reader's own, for lastPos
	// planEach: plan each query for its values, never from a cached
	// generic plan.
	planEach bool
}

// pgPos is where a batch starts: after a cursor in the default order,
// after a key (nil: at the start) in a sorted one.
type pgPos struct {
	after domain.Cursor
	key   *domain.RowKey
}

// query sends the batch query for the n rows after pos; its rows are
// read later by readRaw.
func (st *pgStream) query(c *pgx.Conn, pos pgPos, n int) (pgx.Rows, error) {
	st.args = st.args[:0]
	if st.planEach {
		// The statement's description is cached; it runs unnamed, planned
		// with this query's values.
		st.args = append(st.args, pgx.QueryExecModeCacheDescribe)
	}
	text := st.sel.text
	switch {
	case !st.sel.sorted:
		at, id := dbCursor(pos.after)
		st.args = append(append(st.args, at, id), st.sel.filterArgs...)
		st.args = append(st.args, n)
	case pos.key == nil:
		text = st.sel.first
		st.args = append(append(st.args, st.sel.filterArgs...), n)
	default:
		st.args = st.sel.afterKeyArgs(st.args, sortArgs(&postgresStyle, st.sort, pos.key), n)
	}
	return c.Query(st.ctx, text, st.args...)
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

// pageDecoder turns raw pages into tickets. Not safe for concurrent use:
// the reader and the stream's goroutine have one each.
type pageDecoder struct {
	vals    [len(pgColumnOIDs)][]byte
	dec     rowDecoder
	typeMap *pgtype.Map
	// skip, if set, is told each row that does not decode, which decode
	// then leaves out; without it such a row fails the page.
	skip func(*undecodableRow)
	// sorted: positions are the RowKey of a row, not its Cursor.
	sorted bool
}

// lastPos returns the position of rb's last row: its Cursor, or in a
// sorted stream its RowKey.
func (pd *pageDecoder) lastPos(rb *rawBatch) (pgPos, error) {
	if !pd.sorted {
		c, err := pd.lastCursor(rb)
		return pgPos{after: c}, err
	}
	k, err := pd.lastKey(rb)
	return pgPos{key: &k}, err
}

// lastKey reads the RowKey of rb's last row, with pgx's type map: once a
// page, and only the key's columns, so that a row whose other columns do
// not decode is skipped by decode and the stream still moves past it.
func (pd *pageDecoder) lastKey(rb *rawBatch) (domain.RowKey, error) {
	rb.row(rb.rows-1, pd.vals[:])
	if pd.typeMap == nil {
		pd.typeMap = pgtype.NewMap()
	}
	var k domain.RowKey
	for _, c := range [...]struct {
		col int
		dst any
	}{{0, &k.ID}, {1, &k.Team}, {3, (*string)(&k.Status)}, {4, (*string)(&k.Priority)}, {6, &k.Assignee}, {8, &k.CreatedAt}, {9, &k.UpdatedAt}} {
		f := rb.fields[c.col]
		if err := pd.typeMap.Scan(f.DataTypeOID, f.Format, pd.vals[c.col], c.dst); err != nil {
			return domain.RowKey{}, fmt.Errorf("scan sort key column %s: %w", f.Name, err)
		}
	}
	k.CreatedAt, k.UpdatedAt = k.CreatedAt.UTC(), k.UpdatedAt.UTC()
	return k, nil
}

// lastCursor returns the position of rb's last row, reading only its
// (updated_at, id) when rows are binary.
func (pd *pageDecoder) lastCursor(rb *rawBatch) (domain.Cursor, error) {
	rb.row(rb.rows-1, pd.vals[:])
	if rb.fast {
		return lastCursor(pd.vals[:])
	}
	// Only the key: a row whose other columns do not decode is skipped
	// by decode, and the stream must still move past it.
	if pd.typeMap == nil {
		pd.typeMap = pgtype.NewMap()
	}
	var c domain.Cursor
	last := len(pgColumnOIDs) - 1
	if err := pd.typeMap.Scan(rb.fields[0].DataTypeOID, rb.fields[0].Format, pd.vals[0], &c.ID); err != nil {
		return domain.Cursor{}, fmt.Errorf("scan ticket id: %w", err)
	}
	if err := pd.typeMap.Scan(rb.fields[last].DataTypeOID, rb.fields[last].Format, pd.vals[last], &c.UpdatedAt); err != nil {
		return domain.Cursor{}, fmt.Errorf("scan ticket %d updated_at: %w", c.ID, err)
	}
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c, nil
}

// decode turns rb's rows into batch, reusing its tickets' memory.
func (pd *pageDecoder) decode(rb *rawBatch, batch []domain.Ticket) ([]domain.Ticket, error) {
	batch = slices.Grow(batch[:0], rb.rows)[:rb.rows]
	if rb.fast {
		pd.dec.text.fill(rb)
	}
	n := 0
	for i := range rb.rows {
		rb.row(i, pd.vals[:])
		t := &batch[n]
		var err error
		if rb.fast {
			err = pd.dec.decode(pd.vals[:], t)
		} else {
			err = pd.decodeGeneric(rb.fields, t)
		}
		if err == nil {
			err = checkYears(t)
		}
		if err != nil {
			id, ok := rawID(rb.fields[0], pd.vals[0])
			if pd.skip == nil || !ok {
				return batch[:0], err
			}
			pd.skip(&undecodableRow{id: id, err: err})
			continue
		}
		n++
	}
	return batch[:n], nil
}

// rawID reads the ticket id of a raw row, if it is a binary bigint.
func rawID(f pgconn.FieldDescription, v []byte) (int64, bool) {
	if f.DataTypeOID != pgtype.Int8OID || f.Format != pgtype.BinaryFormatCode || len(v) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
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

// ticket reads one ticket by its primary key.
func (s *postgresEngine) ticket(ctx context.Context, id int64) (domain.Ticket, bool, error) {
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
