package gormstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// The retention queries: removals and departures recorded before the cutoff
// and at or before the position read so far go, and change_feed_state
// records the position below which none is left. The count returned is the
// removals'. Arrivals go by age, like departures.
const (
	sqlPruneMaxSQL = `SELECT max(change_pos), count(*) FROM ticket_removals WHERE removed_at < ?1 AND (change_pos, id) <= (?2, ?3)
	UNION ALL SELECT max(change_pos), count(*) FROM ticket_departures WHERE departed_at < ?1 AND (change_pos, id) <= (?2, ?3)`
	sqlPruneSQL     = `DELETE FROM ticket_removals WHERE removed_at < ? AND (change_pos, id) <= (?, ?)`
	sqlPruneLeftSQL = `DELETE FROM ticket_departures WHERE departed_at < ? AND (change_pos, id) <= (?, ?)`
)

// prune is PruneRemovals for SQLite. The count, the delete and the
// record of how far removals were pruned run in one BEGIN IMMEDIATE
// transaction, which takes the write lock first: a writer cannot commit
// between the count and the delete, and the transaction never has to
// upgrade a read snapshot to a write, which SQLite refuses at once (busy,
// without waiting) when another writer committed after the snapshot.
// database/sql cannot begin such a transaction, so it runs on one
// connection by hand.
func (s *sqliteEngine) prune(ctx context.Context, before time.Time, readTo domain.ChangePos) (n int64, err error) {
	k, ok := prefixKey(readTo)
	if !ok {
		return 0, errForeignPosition
	}
	seq, id := keySeq(k), k.id
	cutoff := before.UnixMicro() // how SQLite stores the times
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
