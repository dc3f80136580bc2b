package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// The change feed on PostgreSQL. A position is a snapshot: transactions
// commit in any order, so what a reader has had is every transaction below
// the snapshot's xmax but those then in progress (pg_snapshot_xip), which
// stay pending until a later read finds them committed. A read takes
// pg_current_snapshot() as its target and reads the rows its start lacks:
// those of its pending transactions and those at or above its xmax, in
// (change_pos, id) order. So a change is read as soon as its own
// transaction commits, however long another stays open — in this database
// or any other of the server — with no replication slot, no NOTIFY and
// nothing asked of writers.
//
// Each page is read in one REPEATABLE READ READ ONLY transaction, which
// takes no transaction id and so is pending in no one's snapshot; the first
// page's snapshot is the target, and later pages, in later snapshots, keep
// to what it covers by testing change_pos against it.
const (
	// pgSnapshotSQL reads the snapshot of the transaction it runs in.
	pgSnapshotSQL = `SELECT pg_snapshot_xmax(s)::text::bigint, ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x ORDER BY 1) FROM pg_current_snapshot() AS s`
)

// readChanges reads what `after` lacks of what the target covers — until,
// or else a snapshot taken by the first page — page by page, and returns
// the target.
func (s *postgresEngine) readChanges(ctx context.Context, after, until domain.ChangePos, batchSize int, h ports.ChangeHandler) (domain.ChangePos, error) {
	r := pgRead{start: after, from: after, target: until, explicit: !until.IsZero(), n: batchSize, key: rowKey{0, math.MinInt64}}
	if after.Seq != 0 {
		// The start read a transaction in part: its rest comes first, so
		// that every position of the read says exactly what was read.
		r.partPhase, r.key = true, rowKey{after.Seq, after.ID}
	}
	var page changePage
	var merged []ports.Change
	var adv advancer
	for {
		start := time.Now()
		err := s.readChangePage(ctx, &r, &page)
		s.observe(QueryChanges, start, err)
		if err != nil {
			return after, readFailed(ctx, err)
		}
		bound, full := pageBound(&page, batchSize)
		merged, err = handOver(h, &page, merged, bound, full, func(k rowKey) domain.ChangePos {
			if r.partPhase {
				// Only more of the start's partial transaction: nothing
				// else has been read yet.
				p := r.from
				p.ID = k.id
				return p
			}
			return adv.advance(r.from, r.target, k)
		})
		if err != nil {
			return after, err
		}
		if len(merged) > 0 {
			r.key = keyOf(&merged[len(merged)-1])
		}
		// Later pages test change_pos against the target: their
		// snapshots see what committed after it.
		r.explicit = true
		if !full && r.partPhase {
			// The start's partial transaction is read whole: the rest
			// starts from a start that has all of it.
			r.partPhase, r.key = false, rowKey{0, math.MinInt64}
			if r.target.Covers(r.from.Seq, math.MaxInt64) {
				r.from = completed(r.from)
			} // else a target older than the start: positions say less (domain.Advance)
			continue
		}
		if !full {
			break
		}
		// Everything up to bound was read, delivered or skipped.
		if bound.compare(r.key) > 0 {
			r.key = bound
		}
	}
	return r.target, nil
}

// completed returns p with its partial transaction read whole.
func completed(p domain.ChangePos) domain.ChangePos {
	if p.Seq == 0 {
		return p
	}
	out := domain.ChangePos{Xmax: max(p.Xmax, p.Seq+1), Pending: p.Pending}
	return out
}

// advancer computes each change's position (domain.Advance), sharing one
// Pending slice among the changes whose pending transactions are the same.
type advancer struct{ last []uint64 }

func (a *advancer) advance(from, target domain.ChangePos, k rowKey) domain.ChangePos {
	p := domain.Advance(from, target, k.seq, k.id)
	if slices.Equal(p.Pending, a.last) {
		p.Pending = a.last
	} else {
		a.last = p.Pending
	}
	return p
}

// pgRead is one read of the feed: where it started, its target and how far
// its pages got.
type pgRead struct {
	// start is where the read started; from is start, or, once the rest
	// of start's partial transaction is read, start with all of it.
	start, from, target domain.ChangePos
	// explicit: the target is tested in the queries. The first page of a
	// read to a snapshot of its own need not: its rows are those the
	// snapshot sees.
	explicit bool
	// partPhase: the rest of the start's partial transaction is being
	// read, alone.
	partPhase bool
	n         int
	key       rowKey // the last change read
}

// readChangePage reads a page of the change feed in one REPEATABLE READ
// READ ONLY transaction, sent with its queries in one pgx batch; the first
// page of a read without a target takes its snapshot as the target.
func (s *postgresEngine) readChangePage(ctx context.Context, r *pgRead, page *changePage) error {
	page.changed, page.removed = page.changed[:0], page.removed[:0]
	page.changedRows, page.changedLast = 0, rowKey{}
	changedSQL, changedArgs := s.pageQuery(r, false)
	removedSQL, removedArgs := s.pageQuery(r, true)
	snapshot := r.target.IsZero()
	return s.withPgx(ctx, func(c *pgx.Conn) error {
		// One round trip: the transaction and its queries go out
		// together. Should one fail, the rest fail too and COMMIT ends
		// the transaction as a rollback.
		b := &pgx.Batch{}
		b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
		if snapshot {
			b.Queue(pgSnapshotSQL)
		}
		b.Queue(changedSQL, changedArgs...)
		b.Queue(removedSQL, removedArgs...)
		b.Queue("COMMIT")
		br := c.SendBatch(ctx, b)
		err := s.readChangeBatch(br, c.TypeMap(), snapshot, r, page)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// pageQueries caches the text of the page queries by shape (see
// pgRead.shape): a poll builds only its arguments.
var pageQueries sync.Map // uint8 → string

// pageQuery returns the text and arguments of r's page query of changed
// tickets, or of removals.
func (s *postgresEngine) pageQuery(r *pgRead, removals bool) (string, []any) {
	shape := r.shape(removals)
	q := pgPageQuery{r: r, removals: removals, textToo: true}
	if text, ok := pageQueries.Load(shape); ok {
		q.textToo = false
		q.write()
		return text.(string), q.args
	}
	q.write()
	text := q.text.String()
	pageQueries.Store(shape, text)
	return text, q.args
}

// shape says which parts a page query has: queries of one shape have the
// same text.
func (r *pgRead) shape(removals bool) uint8 {
	var bits uint8
	set := func(bit uint8, on bool) {
		if on {
			bits |= bit
		}
	}
	inPart, pending := r.partsAfterKey()
	set(1, removals)
	set(2, r.explicit)
	set(4, inPart)
	set(8, len(pending) > 0)
	set(16, r.partPhase)
	set(32, !r.start.Equal(r.from))
	return bits
}

// partsAfterKey returns whether the transaction of the last change read is
// one the start lacked below its xmax, and the start's other such
// transactions after it.
func (r *pgRead) partsAfterKey() (inPart bool, pending []int64) {
	if r.partPhase {
		return true, nil
	}
	if _, ok := slices.BinarySearch(r.from.Pending, r.key.seq); ok || (r.from.Seq != 0 && r.key.seq == r.from.Seq && r.from.Seq < r.from.Xmax) {
		inPart = true
	}
	for _, x := range r.from.Pending {
		if x > r.key.seq {
			pending = append(pending, int64(min(x, math.MaxInt64)))
		}
	}
	if s := r.from.Seq; s != 0 && s < r.from.Xmax && s > r.key.seq {
		i, _ := slices.BinarySearch(pending, int64(s))
		pending = slices.Insert(pending, i, int64(s))
	}
	return inPart, pending
}

// pgPageQuery writes a page query: each value is one parameter, however
// often the text refers to it, so that a poll encodes a dozen values.
type pgPageQuery struct {
	r        *pgRead
	removals bool
	textToo  bool // write the text, not only collect the arguments
	text     strings.Builder
	args     []any
}

// param adds v and returns its placeholder.
func (q *pgPageQuery) param(v any) string {
	q.args = append(q.args, v)
	if !q.textToo {
		return ""
	}
	return "$" + strconv.Itoa(len(q.args))
}

func (q *pgPageQuery) w(parts ...string) {
	if q.textToo {
		for _, p := range parts {
			q.text.WriteString(p)
		}
	}
}

// pos holds a position's placeholders.
type posParams struct{ seq, id, xmax, pending string }

func (q *pgPageQuery) pos(p domain.ChangePos) posParams {
	seq := int64(-1) // no change is at -1: nothing read in part
	if p.Seq != 0 {
		seq = int64(min(p.Seq, math.MaxInt64))
	}
	pending := make([]int64, len(p.Pending))
	for i, x := range p.Pending {
		pending[i] = int64(min(x, math.MaxInt64))
	}
	return posParams{q.param(seq), q.param(p.ID), q.param(int64(min(p.Xmax, math.MaxInt64))), q.param(pending)}
}

// covers is the text of domain.ChangePos.Covers of p for the change in
// columns {col}change_pos and {col}id.
func (q *pgPageQuery) covers(col string, p posParams) {
	q.w("(CASE WHEN ", col, "change_pos = ", p.seq, " THEN ", col, "id <= ", p.id,
		" ELSE ", col, "change_pos < ", p.xmax, " AND ", col, "change_pos <> ALL(", p.pending, "::bigint[]) END)")
}

// write writes the page's query of changed tickets, or of removals: the
// union of what the read's start lacks in three index ranges, each after
// the last change read — the rest of the transaction being read, the
// start's pending transactions after it, and every transaction from the
// start's xmax on — ordered, with the teams each ticket left. In the part
// phase only the first.
func (q *pgPageQuery) write() {
	r := q.r
	q.args = make([]any, 0, 16)
	from := q.pos(r.from)
	start := from
	if !r.start.Equal(r.from) {
		start = q.pos(r.start)
	}
	var target posParams
	if r.explicit {
		target = q.pos(r.target)
	}
	floor, n := q.param(floorArg(r.start)), q.param(r.n)
	inPart, pending := r.partsAfterKey()
	arms := 0
	arm := func(cond func()) {
		arms++
		if arms > 1 {
			q.w(" UNION ALL ")
		}
		q.w("(SELECT change_pos, ")
		if q.removals {
			q.w("id, ")
		}
		// The teams ticket t left in the changes the read's start lacks
		// (and its target covers): one probe of ticket_departures' primary
		// key (id, change_pos, team), and NULL — nothing to decode — when
		// there are none. The start is the whole read's, not the page's: a
		// ticket read on a later page may have left a team during an
		// earlier one. The CASE asks first, once for the page, whether any
		// ticket left a team since the start's floor: in the common case
		// none did, and the changes cost no probe at all.
		q.w("CASE WHEN (SELECT EXISTS (SELECT 1 FROM ticket_departures WHERE change_pos >= ", floor, "))",
			" THEN (SELECT array_agg(DISTINCT d.team) FROM ticket_departures d WHERE d.id = t.id AND d.change_pos >= ", floor, " AND NOT ")
		q.covers("d.", start)
		if r.explicit {
			q.w(" AND ")
			q.covers("d.", target)
		}
		q.w(") END")
		if q.removals {
			q.w(" FROM ticket_removals t WHERE ")
		} else {
			q.w(", ", ticketColumns, " FROM tickets t WHERE ")
		}
		cond()
		q.w(" AND NOT ")
		q.covers("t.", from)
		if r.explicit {
			q.w(" AND ")
			q.covers("t.", target)
		}
		if q.removals {
			// A ticket deleted and inserted again is no removal — unless,
			// on a later page, its new row is one the target does not
			// cover yet: the removal is read now, the ticket next time.
			q.w(" AND NOT EXISTS (SELECT 1 FROM tickets x WHERE x.id = t.id")
			if r.explicit {
				q.w(" AND ")
				q.covers("x.", target)
			}
			q.w(")")
		}
		q.w(" ORDER BY change_pos, id LIMIT ", n, ")")
	}
	if inPart {
		arm(func() { q.w("change_pos = ", q.param(keySeq(r.key)), " AND id > ", q.param(r.key.id)) })
	}
	if !r.partPhase {
		if len(pending) > 0 {
			arm(func() { q.w("change_pos = ANY(", q.param(pending), "::bigint[])") })
		}
		// The range from the start's xmax begins after the start's partial
		// transaction's part when that one is at xmax.
		tail := rowKey{r.from.Xmax, math.MinInt64}
		if r.from.Seq != 0 && r.from.Seq == r.from.Xmax {
			tail.id = r.from.ID
		}
		if r.key.compare(tail) > 0 {
			tail = r.key
		}
		arm(func() {
			q.w("change_pos >= ", from.xmax, " AND (change_pos, id) > (", q.param(keySeq(tail)), ", ", q.param(tail.id), ")")
		})
	}
	if q.textToo {
		inner := q.text.String()
		q.text.Reset()
		q.w("SELECT * FROM (", inner, ") AS page ORDER BY change_pos, id LIMIT ", n)
	}
}

// readChangeBatch reads the results of readChangePage's batch into page,
// decoding with types. A row that does not decode is skipped: pgx's own
// rows.Scan would end the whole result at the first such row.
func (s *postgresEngine) readChangeBatch(br pgx.BatchResults, types *pgtype.Map, snapshot bool, r *pgRead, page *changePage) error {
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if snapshot {
		target, err := scanSnapshot(br.QueryRow())
		if err != nil {
			return err
		}
		r.target = target
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	for rows.Next() {
		var pos int64
		page.changedRows++
		page.changed = append(page.changed, ports.Change{})
		ch := &page.changed[len(page.changed)-1]
		t := &ch.Ticket
		fields, vals := rows.FieldDescriptions(), rows.RawValues()
		// Most changes leave no team: their NULL is not decoded at all,
		// which costs allocations even for an empty result.
		var left any
		if len(vals) > 1 && vals[1] != nil {
			left = &ch.LeftTeams
		}
		if err := pgx.ScanRow(types, fields, vals, &pos, left, &t.ID, &t.Team, &t.Subject, (*string)(&t.Status), (*string)(&t.Priority),
			&t.Requester, &t.Assignee, &t.Tags, &t.CreatedAt, &t.UpdatedAt); err != nil {
			// The position and id are bigint NOT NULL: if even they do
			// not decode, the result is not what this query asked for.
			key := make([]any, len(vals))
			key[0], key[2] = &pos, &t.ID
			if pgx.ScanRow(types, fields, vals, key...) != nil {
				rows.Close()
				return fmt.Errorf("scan changed ticket: %w", err)
			}
			s.skipRow(QueryChanges, &undecodableRow{id: t.ID, err: err})
			page.skipChanged(rowKey{uint64(pos), t.ID})
			continue
		}
		t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
		if err := checkYears(t); err != nil {
			s.skipRow(QueryChanges, &undecodableRow{id: t.ID, err: err})
			page.skipChanged(rowKey{uint64(pos), t.ID})
			continue
		}
		ch.Pos = domain.ChangePos{Seq: uint64(pos), ID: t.ID} // the key only
		page.readChanged()
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	removed, err := br.Query()
	if err != nil {
		return err
	}
	err = scanRemovals(removed, page, func(dst *[]string) any { return dst })
	removed.Close()
	if err != nil {
		return err
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// scanSnapshot reads pgSnapshotSQL's row as a position.
func scanSnapshot(row pgx.Row) (domain.ChangePos, error) {
	var xmax int64
	var xip []int64
	if err := row.Scan(&xmax, &xip); err != nil {
		return domain.ChangePos{}, fmt.Errorf("snapshot: %w", err)
	}
	p := domain.ChangePos{Xmax: uint64(xmax)}
	if len(xip) > 0 {
		p.Pending = make([]uint64, len(xip))
		for i, x := range xip {
			p.Pending[i] = uint64(x)
		}
	}
	return p, nil
}

// horizon is a snapshot taken now: every transaction committed so far.
func (s *postgresEngine) horizon(ctx context.Context) (domain.ChangePos, error) {
	var p domain.ChangePos
	err := s.withPgx(ctx, func(c *pgx.Conn) error {
		var err error
		p, err = scanSnapshot(c.QueryRow(ctx, pgSnapshotSQL))
		return err
	})
	return p, err
}

// frontier is the next transaction id of a snapshot taken now.
func (s *postgresEngine) frontier(ctx context.Context) (domain.ChangePos, error) {
	var f int64
	if err := s.sql.QueryRowContext(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&f); err != nil {
		return domain.ChangePos{}, fmt.Errorf("change feed frontier: %w", connectionLost(err))
	}
	return domain.ChangePos{Xmax: uint64(f)}, nil
}

// oldestWriter is the server's oldest transaction that holds a transaction
// id: ids are shared by every database of the server, so a writer in any
// of them counts.
func (s *postgresEngine) oldestWriter(ctx context.Context) (ports.Writer, error) {
	var w ports.Writer
	var ageMS float64
	err := s.sql.QueryRowContext(ctx, `SELECT EXTRACT(EPOCH FROM now() - xact_start) * 1000, pid, application_name, state
		FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
		ORDER BY xact_start LIMIT 1`).Scan(&ageMS, &w.PID, &w.Application, &w.State)
	if errors.Is(err, sql.ErrNoRows) {
		return ports.Writer{}, nil
	}
	if err != nil {
		return ports.Writer{}, fmt.Errorf("oldest writer: %w", err)
	}
	w.Age = time.Duration(ageMS * float64(time.Millisecond))
	return w, nil
}

// snapshotTx is REPEATABLE READ, which, taking no transaction id while it
// writes nothing, is pending in no one's snapshot.
func (*postgresEngine) snapshotTx() *sql.TxOptions {
	return &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
}
