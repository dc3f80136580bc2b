package gormstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// The retention queries: removals and departures recorded before the cutoff
// and at or before the position read so far go, and change_feed_state
// records the position below which none is left. The count returned is the
// removals'. On PostgreSQL the births of transactions that have ended go
// too: they matter only while their transaction writes (00006_births.sql).
const (
	pgPruneSQL = `WITH gone AS (DELETE FROM ticket_removals WHERE removed_at < $1 AND (change_pos, id) <= ($2, $3) RETURNING change_pos),
	left_ AS (DELETE FROM ticket_departures WHERE departed_at < $1 AND (change_pos, id) <= ($2, $3) RETURNING change_pos),
	upto AS (SELECT max(change_pos) AS pos FROM (SELECT change_pos FROM gone UNION ALL SELECT change_pos FROM left_) p),
	born AS (DELETE FROM ticket_births WHERE change_pos < pg_snapshot_xmin(pg_current_snapshot())::text::bigint),
	moved AS (UPDATE change_feed_state SET removals_pruned_before = GREATEST(removals_pruned_before, (SELECT pos + 1 FROM upto)) WHERE id = 1 AND (SELECT pos FROM upto) IS NOT NULL)
	SELECT count(*) FROM gone`
	sqlPruneMaxSQL = `SELECT max(change_pos), count(*) FROM ticket_removals WHERE removed_at < ?1 AND (change_pos, id) <= (?2, ?3)
	UNION ALL SELECT max(change_pos), count(*) FROM ticket_departures WHERE departed_at < ?1 AND (change_pos, id) <= (?2, ?3)`
	sqlPruneSQL     = `DELETE FROM ticket_removals WHERE removed_at < ? AND (change_pos, id) <= (?, ?)`
	sqlPruneLeftSQL = `DELETE FROM ticket_departures WHERE departed_at < ? AND (change_pos, id) <= (?, ?)`
)

// PruneRemovals implements ports.ChangeFeed.
func (s *Store) PruneRemovals(ctx context.Context, cutoff time.Time, readTo domain.ChangePos) (int64, error) {
	if readTo.IsZero() {
		return 0, nil
	}
	seq := int64(min(readTo.Seq, math.MaxInt64))
	if s.dialect == Postgres {
		var n int64
		err := s.sql.QueryRowContext(ctx, pgPruneSQL, cutoff, seq, readTo.ID).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("prune removals: %w", err)
		}
		return n, nil
	}
	n, err := s.pruneSQLite(ctx, cutoff.UnixMicro(), seq, readTo.ID)
	if err != nil {
		return 0, fmt.Errorf("prune removals: %w", err)
	}
	return n, nil
}

// pruneSQLite is PruneRemovals for SQLite. The count, the delete and the
// record of how far removals were pruned run in one BEGIN IMMEDIATE
// transaction, which takes the write lock first: a writer cannot commit
// between the count and the delete, and the transaction never has to
// upgrade a read snapshot to a write, which SQLite refuses at once (busy,
// without waiting) when another writer committed after the snapshot.
// database/sql cannot begin such a transaction, so it runs on one
// connection by hand.
func (s *Store) pruneSQLite(ctx context.Context, cutoff, seq, id int64) (n int64, err error) {
	conn, err := s.sql.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return 0, err
	}
	defer func() {
		if err == nil {
			return
		}
		// Roll back even when ctx ended; a connection left inside a
		// transaction must not go back to the pool.
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	// One row for removals, then one for departures: the last position and
	// how many of each would go.
	rows, err := conn.QueryContext(ctx, sqlPruneMaxSQL, cutoff, seq, id)
	if err != nil {
		return 0, err
	}
	var maxPos [2]sql.NullInt64
	var counts [2]int64
	for i := 0; i < 2 && rows.Next(); i++ {
		if err := rows.Scan(&maxPos[i], &counts[i]); err != nil {
			rows.Close()
			return 0, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for i, q := range [2]string{sqlPruneSQL, sqlPruneLeftSQL} {
		if counts[i] == 0 {
			continue
		}
		if _, err := conn.ExecContext(ctx, q, cutoff, seq, id); err != nil {
			return 0, err
		}
		if _, err := conn.ExecContext(ctx, `UPDATE change_feed_state SET removals_pruned_before = max(removals_pruned_before, ?) WHERE id = 1`, maxPos[i].Int64+1); err != nil {
			return 0, err
		}
	}
	n = counts[0]
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, err
	}
	return n, nil
}
