package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// The change feed's queries on SQLite. Each page is read in one read-only
// transaction (one WAL snapshot) so that the horizon and the rows agree.
// Rows come in (change_pos, id) order, bounded by the page's position
// range.
const (
	sqlHorizon    = `SELECT last_pos + 1 FROM change_feed_state WHERE id = 1`
	sqlChangedSQL = `SELECT change_pos, ` + ticketColumns + ` FROM tickets t WHERE (change_pos, id) > (?1, ?2) AND (change_pos, id) <= (?3, ?4) ORDER BY change_pos, id LIMIT ?5`
	sqlRemovedSQL = `SELECT change_pos, id FROM ticket_removals t WHERE (change_pos, id) > (?1, ?2) AND (change_pos, id) <= (?3, ?4) AND NOT EXISTS (SELECT 1 FROM tickets x WHERE x.id = t.id AND (x.change_pos, x.id) <= (?3, ?4)) ORDER BY change_pos, id LIMIT ?5`
)

// SQLite's writers take turns, and each write takes the next number of
// the change counter: what a reader has had is always every change up to
// one (counter, id) key, and a position is that prefix — no pending
// transactions, and the one read in part, if any, at Xmax.

// prefixKey returns the last key a prefix position covers; ok is false for
// a position no SQLite feed hands out.
func prefixKey(p domain.ChangePos) (k rowKey, ok bool) {
	switch {
	case len(p.Pending) > 0 || (p.Seq != 0 && p.Seq != p.Xmax):
		return rowKey{}, false
	case p.Seq != 0:
		return rowKey{p.Seq, p.ID}, true
	case p.Xmax == 0:
		return rowKey{0, math.MinInt64}, true
	}
	return rowKey{p.Xmax - 1, math.MaxInt64}, true
}

// prefixPos is the position that covers every change up to k.
func prefixPos(k rowKey) domain.ChangePos { return domain.ChangePos{Xmax: k.seq, Seq: k.seq, ID: k.id} }

// errForeignPosition refuses a position of another kind of database.
var errForeignPosition = errors.New("the position is not one of this SQLite database's change feed")

// readChanges reads the changes after `after` — up to until, or else to
// the horizon of its first page — page by page, each page in one read
// transaction. When the idle poll's one cheap read tells that nothing
// changed, that is all it costs.
func (s *sqliteEngine) readChanges(ctx context.Context, after, until domain.ChangePos, batchSize int, h ports.ChangeHandler) (domain.ChangePos, error) {
	from, okFrom := prefixKey(after)
	upTo, okUpTo := prefixKey(until)
	if !okFrom || !okUpTo {
		return after, errForeignPosition
	}
	bounded := !until.IsZero()
	if !bounded && after.Seq == 0 && after.Xmax > 0 {
		var horizon int64
		start := time.Now()
		err := s.sql.QueryRowContext(ctx, sqlHorizon).Scan(&horizon)
		s.observe(ctx, QueryChanges, start, err)
		if err != nil {
			return after, readFailed(ctx, err)
		}
		if uint64(horizon) <= after.Xmax {
			return after, nil
		}
	}
	if !bounded {
		upTo = rowKey{math.MaxInt64, math.MaxInt64}
	}
	start0 := after // the read's start, which must have lost nothing to the retention
	bufs := takeReadBuffers()
	page, merged := &bufs.page, bufs.merged
	defer func() {
		bufs.merged = merged // grown, for the next read
		bufs.release()
	}()
	first := true
	// horizon is the first page's: every later page of this read is bounded
	// by it, so it is also the position the read reaches. A later page's own
	// horizon may be higher, but what committed between the pages below it
	// was not read, and reporting it would skip those changes for good.
	var horizon uint64
	for {
		start := time.Now()
		err := s.readChangePage(ctx, start0, from, upTo, batchSize, page)
		s.observe(ctx, QueryChanges, start, err)
		if err != nil {
			return after, readFailed(ctx, err)
		}
		if first && !bounded {
			horizon = page.horizon
			upTo = rowKey{horizon - 1, math.MaxInt64}
			if horizon == 0 {
				upTo = rowKey{0, math.MinInt64}
			}
		}
		first = false
		bound, full := pageBound(page, batchSize)
		merged, err = handOver(h, page, merged, bound, full, prefixPos)
		if err != nil {
			return after, err
		}
		if len(merged) > 0 {
			from = keyOf(&merged[len(merged)-1])
			after = merged[len(merged)-1].Pos
		}
		if !full {
			break
		}
		// Everything up to bound was read, delivered or skipped: the next
		// page starts after it even when its last rows were skipped.
		if bound.compare(from) > 0 {
			from, after = bound, prefixPos(bound)
		}
	}
	if bounded {
		if k, _ := prefixKey(after); upTo.compare(k) > 0 {
			return until, nil
		}
		return after, nil
	}
	if k, _ := prefixKey(after); horizon > 0 && (rowKey{horizon - 1, math.MaxInt64}).compare(k) > 0 {
		return domain.ChangePos{Xmax: horizon}, nil
	}
	return after, nil
}

// readChangePage reads a page of the change feed in one read transaction,
// once it has checked that the retention took nothing a reader at start
// lacks (checkHistoryKept).
func (s *sqliteEngine) readChangePage(ctx context.Context, start domain.ChangePos, after, upTo rowKey, n int, page *changePage) error {
	page.reset()
	args := []any{keySeq(after), after.id, keySeq(upTo), upTo.id, n}
	tx, err := s.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	var horizon int64
	if err := tx.QueryRowContext(ctx, sqlHorizon).Scan(&horizon); err != nil {
		return fmt.Errorf("horizon: %w", err)
	}
	page.horizon = uint64(horizon)
	kept, err := sqliteHistoryKept(ctx, tx)
	if err != nil {
		return err
	}
	if err := checkHistoryKept(start, kept); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, sqlChangedSQL, args...)
	if err != nil {
		return err
	}
	var sc sqliteScanner
	for rows.Next() {
		page.changedRows++
		page.changed = append(page.changed, ports.Change{})
		ch := &page.changed[len(page.changed)-1]
		var pos int64
		err := sc.scan(rows, &ch.Ticket, &pos)
		var bad *undecodableRow
		if errors.As(err, &bad) {
			s.skipRow(QueryChanges, bad)
			page.skipChanged(rowKey{uint64(pos), bad.id})
			continue
		}
		if err != nil {
			rows.Close()
			return err
		}
		ch.Pos = domain.ChangePos{Seq: uint64(pos), ID: ch.Ticket.ID} // the key only
		page.readChanged()
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	rrows, err := tx.QueryContext(ctx, sqlRemovedSQL, args...)
	if err != nil {
		return err
	}
	defer rrows.Close()
	return scanRemovals(rrows, page)
}

// keySeq is k's transaction as a query parameter.
func keySeq(k rowKey) int64 { return int64(min(k.seq, math.MaxInt64)) }

// horizon covers every change so far: those below the counter's next value.
func (s *sqliteEngine) horizon(ctx context.Context) (domain.ChangePos, error) {
	var h int64
	err := s.sql.QueryRowContext(ctx, sqlHorizon).Scan(&h)
	return domain.ChangePos{Xmax: uint64(h)}, err
}

// sqliteKeptSQL reads the change below which removals were pruned: on
// SQLite, whose transactions commit in the order of their numbers, a
// number says what a prune took.
const sqliteKeptSQL = `SELECT removals_pruned_before FROM change_feed_state WHERE id = 1`

// historyKept implements engine.historyKept.
func (s *sqliteEngine) historyKept(ctx context.Context) (domain.ChangePos, error) {
	return sqliteHistoryKept(ctx, s.sql)
}

// sqliteHistoryKept reads what pruning took (sqliteKeptSQL) through q.
func sqliteHistoryKept(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (domain.ChangePos, error) {
	var before int64
	if err := q.QueryRowContext(ctx, sqliteKeptSQL).Scan(&before); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return domain.ChangePos{}, fmt.Errorf("history kept: %w", err)
	}
	return prunedBelow(before, nil), nil
}

// frontier is the horizon: SQLite has one writer.
func (s *sqliteEngine) frontier(ctx context.Context) (domain.ChangePos, error) {
	return s.Horizon(ctx)
}

// oldestWriter is none: SQLite has one writer, whose transaction blocks
// other writers, not readers, and never holds back the feed.
func (*sqliteEngine) oldestWriter(context.Context) (ports.Writer, error) {
	return ports.Writer{}, nil
}

// lockHolder: SQLite's readers, under WAL, wait on no lock.
func (*sqliteEngine) lockHolder(context.Context) (ports.Writer, error) {
	return ports.Writer{}, nil
}

// snapshotTx is a read transaction, to which WAL gives one snapshot.
func (*sqliteEngine) snapshotTx() *sql.TxOptions {
	return &sql.TxOptions{ReadOnly: true}
}
