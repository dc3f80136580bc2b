package gormstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/domain"
)

// Retention on PostgreSQL counts from a transaction's commit. Transaction
// ids do not say when a transaction committed, so each prune leaves a
// mark in change_feed_marks: the time, and the server's snapshot then. A
// prune takes only the removals and departures of transactions the newest
// mark older than its cutoff shows committed, and that the caller has
// read: a transaction that stayed open for longer than the retention keeps
// its removals for the retention after it commits, and a reader that had
// it pending when a newer removal was pruned has lost nothing.
//
// change_feed_state.pruned_xmax, pruned_pending, pruned_seq and pruned_id
// hold the position pruned up to: the join, over the prunes, of what each
// took, up to the last change it took (domain.TookUpTo). It is a
// snapshot, not a number, so a transaction no prune took stays pending in
// it however old it is (checkHistoryKept). A prune raises
// removals_pruned_before too, for replicas of the previous release
// (migration 00013).
const (
	// pgMarkNowSQL reads the time and the server's snapshot. It is the
	// prune's first statement, run before its transaction has an id: a
	// transaction's own id counts as committed in its own snapshot.
	pgMarkNowSQL = `SELECT statement_timestamp(), pg_snapshot_xmax(s)::text::bigint, ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x ORDER BY 1) FROM pg_current_snapshot() AS s`
	// pgMarkBeforeSQL reads the newest mark older than the cutoff ($1),
	// if any, and when the newest mark of all was left.
	pgMarkBeforeSQL = `SELECT (SELECT max(taken_at) FROM change_feed_marks), m.taken_at, m.snap_xmax, m.snap_pending
	FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT taken_at, snap_xmax, snap_pending FROM change_feed_marks WHERE taken_at < $1 ORDER BY taken_at DESC LIMIT 1) AS m ON true`
	// pgPruneSQL is the retention statement, around the test that a change
	// is one the prune may take (%[1]s, for ticket_removals, and %[2]s,
	// for ticket_departures): removals and departures recorded before the
	// cutoff ($1) go. The births of transactions that have ended
	// (completed before the statement's snapshot) go too: they matter only
	// while their transaction writes (00006_births.sql). The new mark ($2,
	// $3, $4) is left when $5, and marks older than the one used ($6) go.
	// It returns how many removals went, and the last change that went,
	// in (transaction, ticket id) order.
	pgPruneSQL = `WITH gone AS (DELETE FROM ticket_removals t WHERE removed_at < $1 AND %[1]s RETURNING change_pos, id),
	left_ AS (DELETE FROM ticket_departures t WHERE departed_at < $1 AND %[2]s RETURNING change_pos, id),
	born AS (DELETE FROM ticket_births WHERE pg_visible_in_snapshot(change_pos::text::xid8, pg_current_snapshot())),
	marked AS (INSERT INTO change_feed_marks (taken_at, snap_xmax, snap_pending) SELECT $2, $3, $4 WHERE $5),
	old AS (DELETE FROM change_feed_marks WHERE taken_at < $6)
	SELECT (SELECT count(*) FROM gone), l.change_pos, l.id FROM (SELECT 1) AS one
	LEFT JOIN LATERAL (SELECT change_pos, id FROM gone UNION ALL SELECT change_pos, id FROM left_ ORDER BY 1 DESC, 2 DESC LIMIT 1) AS l ON true`
	// pgPrunedSQL reads, and locks until the prune commits, the position
	// pruned up to, after the prune's deletes: concurrent prunes of
	// replicas take turns to record what they took, and take their locks
	// in the order the previous release's prune does. It says, for the
	// transaction, that this is a prune by marks (see 00013).
	pgPrunedSQL = `SELECT pruned_xmax, pruned_pending, pruned_seq, pruned_id, set_config('ticketstream.prune_by_marks', 'on', true) FROM change_feed_state WHERE id = 1 FOR UPDATE`
	// pgPrunedToSQL records the position pruned up to ($1 to $4), and the
	// transaction below which replicas of the previous release are to
	// count everything pruned ($5).
	pgPrunedToSQL = `UPDATE change_feed_state SET pruned_xmax = $1, pruned_pending = $2, pruned_seq = $3, pruned_id = $4, removals_pruned_before = GREATEST(removals_pruned_before, $5) WHERE id = 1`
)

// marksPerRetention is about how many marks the retention keeps: a new
// mark is left only when the newest is older than 1/marksPerRetention of
// it, however many replicas prune. The retention counts from a commit
// give or take that much.
const marksPerRetention = 1000

// mark is the server's snapshot at a time: what had committed then.
type mark struct {
	at  time.Time
	pos domain.ChangePos
}

// prune runs the retention in one READ COMMITTED transaction, whatever
// the database's default: each statement sees what the prunes of other
// replicas, which it waits for, committed.
func (s *postgresEngine) prune(ctx context.Context, cutoff time.Time, readTo domain.ChangePos) (int64, error) {
	var n int64
	err := s.withPgx(ctx, func(c *pgx.Conn) error {
		return pgx.BeginTxFunc(ctx, c, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
			var err error
			n, err = pruneIn(ctx, tx, cutoff, readTo)
			return err
		})
	})
	return n, err
}

// pruneIn is prune's transaction.
func pruneIn(ctx context.Context, tx pgx.Tx, cutoff time.Time, readTo domain.ChangePos) (int64, error) {
	var now mark
	var xmax int64
	var xip []int64
	if err := tx.QueryRow(ctx, pgMarkNowSQL).Scan(&now.at, &xmax, &xip); err != nil {
		return 0, fmt.Errorf("mark: %w", err)
	}
	now.pos = domain.ChangePos{Xmax: uint64(xmax), Pending: xids(xip)}
	use, newest, err := markBefore(ctx, tx, cutoff, now)
	if err != nil {
		return 0, err
	}
	// What the prune may take: what the reader has read and the mark shows
	// committed. Nothing, when no mark is old enough.
	upTo := domain.Meet(use.pos, readTo)
	b := &sqlBuilder{style: &postgresStyle, n: 6} // $1 to $6 are the statement's own
	args := writeCovers(b, "t.", upTo, nil)
	removals := b.String()
	b.Reset()
	args = writeCovers(b, "t.", upTo, args)
	leave := newest.IsZero() || now.at.Sub(newest) >= now.at.Sub(cutoff)/marksPerRetention
	// Marks older than the one used serve no prune: a later cutoff finds
	// it or a newer one. The newest stays while now's is not left.
	dropBefore := use.at
	if use.at.Equal(now.at) && !leave {
		dropBefore = newest
	}
	stmt := fmt.Sprintf(pgPruneSQL, removals, b.String())
	all := append([]any{cutoff, now.at, xmax, bigints(now.pos.Pending), leave, dropBefore}, args...)
	var n int64
	var lastSeq, lastID *int64
	if err := tx.QueryRow(ctx, stmt, all...).Scan(&n, &lastSeq, &lastID); err != nil {
		return 0, err
	}
	if lastSeq == nil || lastID == nil {
		return n, nil // nothing went
	}
	var was prunedTo
	if err := tx.QueryRow(ctx, pgPrunedSQL).Scan(&was.xmax, &was.pending, &was.seq, &was.id, nil); err != nil {
		return 0, fmt.Errorf("pruned up to: %w", err)
	}
	p := prunedToOf(domain.Join(was.pos(), domain.TookUpTo(upTo, uint64(*lastSeq), *lastID)))
	if _, err := tx.Exec(ctx, pgPrunedToSQL, p.xmax, p.pending, p.seq, p.id, *lastSeq+1); err != nil {
		return 0, fmt.Errorf("record the position pruned up to: %w", err)
	}
	return n, nil
}

// prunedTo is the position pruned up to, as change_feed_state holds it.
type prunedTo struct {
	xmax, seq, id int64
	pending       []int64
}

// pos is p as a position.
func (p prunedTo) pos() domain.ChangePos {
	return domain.ChangePos{Xmax: uint64(p.xmax), Pending: xids(p.pending), Seq: uint64(p.seq), ID: p.id}
}

// prunedToOf is position p as change_feed_state holds it.
func prunedToOf(p domain.ChangePos) prunedTo {
	return prunedTo{xmax: int64(p.Xmax), pending: bigints(p.Pending), seq: int64(p.Seq), id: p.ID}
}

// markBefore returns the newest mark taken before cutoff — now's, when now
// is — or a zero mark, and when the newest mark was left.
func markBefore(ctx context.Context, tx pgx.Tx, cutoff time.Time, now mark) (use mark, newest time.Time, err error) {
	var newestAt, at *time.Time
	var xmax *int64
	var xip []int64
	if err := tx.QueryRow(ctx, pgMarkBeforeSQL, cutoff).Scan(&newestAt, &at, &xmax, &xip); err != nil {
		return mark{}, time.Time{}, fmt.Errorf("marks: %w", err)
	}
	if newestAt != nil {
		newest = *newestAt
	}
	switch {
	case now.at.Before(cutoff):
		return now, newest, nil
	case at != nil && xmax != nil:
		return mark{at: *at, pos: domain.ChangePos{Xmax: uint64(*xmax), Pending: xids(xip)}}, newest, nil
	}
	return mark{}, newest, nil
}

// bigints converts transaction ids to bigint; none is an empty array.
func bigints(l []uint64) []int64 {
	out := make([]int64, len(l))
	for i, x := range l {
		out[i] = int64(min(x, 1<<63-1))
	}
	return out
}
