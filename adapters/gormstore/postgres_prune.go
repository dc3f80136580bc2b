package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// pgPruneSQL is the retention statement: removals and departures recorded
// before the cutoff and at or before the position read so far go, and
// change_feed_state records the position below which none is left. The
// count returned is the removals'. The births of transactions that have
// ended go too: they matter only while their transaction writes
// (00006_births.sql).
const pgPruneSQL = `WITH gone AS (DELETE FROM ticket_removals WHERE removed_at < $1 AND (change_pos, id) <= ($2, $3) RETURNING change_pos),
	left_ AS (DELETE FROM ticket_departures WHERE departed_at < $1 AND (change_pos, id) <= ($2, $3) RETURNING change_pos),
	upto AS (SELECT max(change_pos) AS pos FROM (SELECT change_pos FROM gone UNION ALL SELECT change_pos FROM left_) p),
	born AS (DELETE FROM ticket_births WHERE change_pos < pg_snapshot_xmin(pg_current_snapshot())::text::bigint),
	moved AS (UPDATE change_feed_state SET removals_pruned_before = GREATEST(removals_pruned_before, (SELECT pos + 1 FROM upto)) WHERE id = 1 AND (SELECT pos FROM upto) IS NOT NULL)
	SELECT count(*) FROM gone`

// prune runs the retention as one statement.
func (s *postgresEngine) prune(ctx context.Context, cutoff time.Time, seq, id int64) (int64, error) {
	var n int64
	err := s.sql.QueryRowContext(ctx, pgPruneSQL, cutoff, seq, id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}
