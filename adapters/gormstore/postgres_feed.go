package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
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
	// pgKeptSQL reads, in the snapshot of the transaction it runs in, what
	// the retention may have pruned (see checkHistoryKept): the position
	// pruned up to (postgres_prune.go), and the transaction below which
	// replicas of releases before migration 00013 pruned, with those below
	// it still open.
	pgKeptSQL = `SELECT f.pruned_xmax, f.pruned_pending, f.pruned_seq, f.pruned_id, f.legacy_pruned_before, ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) AS x WHERE x::text::bigint < f.legacy_pruned_before ORDER BY 1) FROM change_feed_state AS f WHERE f.id = 1`
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
	bufs := takeReadBuffers()
	page, merged := &bufs.page, bufs.merged
	defer func() {
		bufs.merged = merged // grown, for the next read
		bufs.release()
	}()
	var adv advancer
	for {
		start := time.Now()
		err := s.readChangePage(ctx, &r, page)
		s.observe(ctx, QueryChanges, start, err)
		if err != nil {
			return after, readFailed(ctx, err)
		}
		bound, full := pageBound(page, batchSize)
		merged, err = handOver(h, page, merged, bound, full, func(k rowKey) domain.ChangePos {
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
	page.reset()
	changedSQL, changedArgs := s.pageQuery(r, false)
	removedSQL, removedArgs := s.pageQuery(r, true)
	snapshot := r.target.IsZero()
	return s.withPgx(ctx, func(c *pgx.Conn) error {
		// One round trip: the transaction and its queries go out
		// together. Should one fail, the rest fail too and COMMIT ends
		// the transaction as a rollback.
		b := &pgx.Batch{}
		// The statements that can wait are feedPageWaits (store.go).
		b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
		b.Queue(pgKeptSQL)
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

// readChangeBatch reads the results of readChangePage's batch into page,
// decoding with types. A row that does not decode is skipped: pgx's own
// rows.Scan would end the whole result at the first such row.
func (s *postgresEngine) readChangeBatch(br pgx.BatchResults, types *pgtype.Map, snapshot bool, r *pgRead, page *changePage) error {
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	kept, err := scanKept(br.QueryRow())
	if err != nil {
		return err
	}
	if err := checkHistoryKept(r.start, kept); err != nil {
		return err
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
	var dec *rowDecoder // the fast decoder, when the columns are what it reads
	defer func() {
		if dec != nil {
			dec.text = textArena{} // the last row's text, kept by no pooled decoder
			feedDecoders.Put(dec)
		}
	}()
	for first := true; rows.Next(); first = false {
		var pos int64
		page.changedRows++
		page.changed = append(page.changed, ports.Change{})
		ch := &page.changed[len(page.changed)-1]
		t := &ch.Ticket
		fields, vals := rows.FieldDescriptions(), rows.RawValues()
		if first && feedFastDecodable(fields) {
			dec = feedDecoders.Get().(*rowDecoder)
		}
		if err := scanChangedRow(dec, types, fields, vals, &pos, t); err != nil {
			// The position and id are bigint NOT NULL: if even they do
			// not decode, the result is not what this query asked for.
			key := make([]any, len(vals))
			key[0], key[1] = &pos, &t.ID
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
	err = scanRemovals(removed, page)
	removed.Close()
	if err != nil {
		return err
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// scanKept reads pgKeptSQL's row: a position covering every change whose
// removal or departure was pruned.
func scanKept(row pgx.Row) (domain.ChangePos, error) {
	var p prunedTo
	var before int64
	var open []int64
	if err := row.Scan(&p.xmax, &p.pending, &p.seq, &p.id, &before, &open); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ChangePos{}, nil // nothing pruned, ever
		}
		return domain.ChangePos{}, fmt.Errorf("history kept: %w", err)
	}
	return domain.Join(p.pos(), prunedBelow(before, xids(open))), nil
}

// xids converts transaction ids read as bigint; none is nil.
func xids(l []int64) []uint64 {
	if len(l) == 0 {
		return nil
	}
	out := make([]uint64, len(l))
	for i, x := range l {
		out[i] = uint64(x)
	}
	return out
}

// historyKept implements engine.historyKept.
func (s *postgresEngine) historyKept(ctx context.Context) (domain.ChangePos, error) {
	var kept domain.ChangePos
	err := s.withPgx(ctx, func(c *pgx.Conn) error {
		var err error
		kept, err = scanKept(c.QueryRow(ctx, pgKeptSQL))
		return err
	})
	return kept, err
}

// scanSnapshot reads pgSnapshotSQL's row as a position.
func scanSnapshot(row pgx.Row) (domain.ChangePos, error) {
	var xmax int64
	var xip []int64
	if err := row.Scan(&xmax, &xip); err != nil {
		return domain.ChangePos{}, fmt.Errorf("snapshot: %w", err)
	}
	return domain.ChangePos{Xmax: uint64(xmax), Pending: xids(xip)}, nil
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
		return domain.ChangePos{}, fmt.Errorf("change feed frontier: %w", unavailable(err))
	}
	return domain.ChangePos{Xmax: uint64(f)}, nil
}

// oldestWriter is the server's oldest transaction that holds a transaction
// id: ids are shared by every database of the server, so a writer in any
// of them counts.
func (s *postgresEngine) oldestWriter(ctx context.Context) (ports.Writer, error) {
	// A session of another role shows no xact_start or state without
	// pg_read_all_stats: its age reads 0, too young to warn of (the
	// operator's guide asks for the grant), rather than a failed scan.
	return s.session(ctx, "oldest writer", `SELECT COALESCE(EXTRACT(EPOCH FROM now() - xact_start) * 1000, 0), pid,
		application_name, COALESCE(state, '')
		FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
		ORDER BY xact_start NULLS LAST LIMIT 1`)
}

// session runs query, which returns at most one session of
// pg_stat_activity as its transaction's age in milliseconds, pid,
// application_name and state; no row is the zero Writer.
func (s *postgresEngine) session(ctx context.Context, what, query string) (ports.Writer, error) {
	var w ports.Writer
	var ageMS float64
	err := s.sql.QueryRowContext(ctx, query).Scan(&ageMS, &w.PID, &w.Application, &w.State)
	if errors.Is(err, sql.ErrNoRows) {
		return ports.Writer{}, nil
	}
	if err != nil {
		return ports.Writer{}, fmt.Errorf("%s: %w", what, err)
	}
	w.Age = time.Duration(ageMS * float64(time.Millisecond))
	return w, nil
}

// lockHolder follows the lock queue from this server's sessions that wait
// on a table's lock, as a feed read behind a LOCK TABLE does — its own
// sessions share its database and application_name; a REST write waiting
// on a row another transaction holds waits on no table lock — to its head: a session blocked by nobody. That is the one to end, which
// the oldest writer of the server, in another database perhaps, need not
// be; it may have written nothing (a reader holding ACCESS SHARE that a
// queued LOCK TABLE waits behind). Needs pg_read_all_stats to see other
// roles' sessions.
func (s *postgresEngine) lockHolder(ctx context.Context) (ports.Writer, error) {
	return s.session(ctx, "lock holder", `WITH RECURSIVE queue(pid, depth) AS (
			SELECT unnest(pg_blocking_pids(a.pid)), 1 FROM pg_stat_activity a
			 WHERE a.datname = current_database() AND a.application_name = current_setting('application_name')
			   AND a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()
			   AND EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted AND l.locktype = 'relation')
			UNION
			SELECT unnest(pg_blocking_pids(q.pid)), q.depth + 1 FROM queue q WHERE q.depth < 8)
		SELECT COALESCE(EXTRACT(EPOCH FROM now() - a.xact_start) * 1000, 0), a.pid, a.application_name, COALESCE(a.state, '')
		  FROM queue q JOIN pg_stat_activity a ON a.pid = q.pid
		 WHERE cardinality(pg_blocking_pids(q.pid)) = 0
		 ORDER BY a.xact_start NULLS LAST LIMIT 1`)
}

// snapshotTx is REPEATABLE READ, which, taking no transaction id while it
// writes nothing, is pending in no one's snapshot.
func (*postgresEngine) snapshotTx() *sql.TxOptions {
	return &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
}
