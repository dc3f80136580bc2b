package gormstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ticketstream/ticketstream/domain"
)

// ChangedSince implements ports.ChangeFeed: the tickets changed after a
// position, for a dashboard that resumes from it. It reads rows by the
// tickets' (change_pos, id) index from the position's floor, deletions by
// the removals' primary key, keeping those the position lacks. Every
// committed change counts, and each read costs what changed since the
// floor, not what the filter holds. The two reads run in one read-only
// transaction, so a ticket deleted between them is not missed.
func (s *Store) ChangedSince(ctx context.Context, after domain.ChangePos, fn func(id int64, team string, removed bool) error) error {
	changed, changedArgs := s.sinceSQL("SELECT id, team FROM tickets WHERE change_pos >= ", "", after)
	deleted, deletedArgs := s.sinceSQL("SELECT DISTINCT id FROM ticket_removals r WHERE change_pos >= ", " AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = r.id)", after)
	err := s.readSnapshot(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, changed, changedArgs...)
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
		rows, err = tx.QueryContext(ctx, deleted, deletedArgs...)
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
		return fmt.Errorf("changed since %v: %w", after, unavailable(err))
	}
	return nil
}

// sinceSQL writes head, the floor of after, a test that after lacks the
// row's change, and tail: a query of what changed since after.
func (s *Store) sinceSQL(head, tail string, after domain.ChangePos) (string, []any) {
	b := &sqlBuilder{style: s.eng.style()}
	b.WriteString(head + b.param() + " AND NOT ")
	args := writeCovers(b, "", after, []any{floorArg(after)})
	b.WriteString(tail)
	return b.String(), args
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
