package gormstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/ticketstream/ticketstream/domain"
)

// ChangedSince implements ports.ChangeFeed: the tickets changed after a
// position, for a dashboard that resumes from it. It reads rows by the
// tickets' (change_pos, id) index, deletions by the removals' primary key.
// No horizon bounds them — every committed change counts — and each read
// costs what changed since, not what the filter holds. The two reads run in
// one read-only transaction, so a ticket deleted between them is not missed.
func (s *Store) ChangedSince(ctx context.Context, after domain.ChangePos, fn func(id int64, team string, removed bool) error) error {
	changed, deleted := s.eng.changedSinceSQL()
	seq := int64(min(after.Seq, math.MaxInt64))
	err := s.readSnapshot(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, changed, seq, after.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var team string
			if err := rows.Scan(&id, &team); err != nil {
				rows.Close()
				return err
			}
			if err := fn(id, team, false); err != nil {
				rows.Close()
				return errHandler{err}
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, deleted, seq, after.ID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if err := fn(id, "", true); err != nil {
				return errHandler{err}
			}
		}
		return rows.Err()
	})
	if h, ok := err.(errHandler); ok {
		return h.err
	}
	if err != nil {
		return fmt.Errorf("changed since %v: %w", after, connectionLost(err))
	}
	return nil
}

// errHandler carries an error of the caller's function through a read,
// so that it is returned as it is and not taken for the database's.
type errHandler struct{ err error }

func (e errHandler) Error() string { return e.err.Error() }

// readSnapshot runs read in one read-only transaction that sees one
// snapshot of the database (see each engine's snapshotTx).
func (s *Store) readSnapshot(ctx context.Context, read func(*sql.Tx) error) error {
	tx, err := s.sql.BeginTx(ctx, s.eng.snapshotTx())
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	if err := read(tx); err != nil {
		return err
	}
	return tx.Commit()
}
