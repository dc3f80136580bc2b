package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// pgPruneSQL is the retention statement, around the test that the reader
// has had a row's change (%[1]s, for ticket_removals, and %[2]s, for
// ticket_departures): removals and departures recorded before the cutoff
// that the reader has had go, and change_feed_state records the
// transaction below which none is left. The count returned is the
// removals'. The births of transactions that have ended (completed before
// the statement's snapshot) go too: they matter only while their
// transaction writes (00006_births.sql).
const pgPruneSQL = `WITH gone AS (DELETE FROM ticket_removals t WHERE removed_at < $1 AND %[1]s RETURNING change_pos),
	left_ AS (DELETE FROM ticket_departures t WHERE departed_at < $1 AND %[2]s RETURNING change_pos),
	upto AS (SELECT max(change_pos) AS pos FROM (SELECT change_pos FROM gone UNION ALL SELECT change_pos FROM left_) p),
	born AS (DELETE FROM ticket_births WHERE pg_visible_in_snapshot(change_pos::text::xid8, pg_current_snapshot())),
	moved AS (UPDATE change_feed_state SET removals_pruned_before = GREATEST(removals_pruned_before, (SELECT pos + 1 FROM upto)) WHERE id = 1 AND (SELECT pos FROM upto) IS NOT NULL)
	SELECT count(*) FROM gone`

// prune runs the retention as one statement.
func (s *postgresEngine) prune(ctx context.Context, cutoff time.Time, readTo domain.ChangePos) (int64, error) {
	b := &sqlBuilder{style: &postgresStyle, n: 1} // $1 is the cutoff
	args := writeCovers(b, "t.", readTo, []any{cutoff})
	removals := b.String()
	b.Reset()
	args = writeCovers(b, "t.", readTo, args)
	var n int64
	err := s.sql.QueryRowContext(ctx, fmt.Sprintf(pgPruneSQL, removals, b.String()), args...).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}
