package gormstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ticketstream/ticketstream/domain"
)

// sqliteInsertRows is how many rows one INSERT carries: 11 parameters a row,
// far below SQLite's limit of 32766.
const sqliteInsertRows = 200

// insert writes tickets with prepared multi-row INSERTs, in one
// transaction.
func (s *sqliteEngine) insert(ctx context.Context, tickets []domain.Ticket) error {
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	// Reserve a position for every row from the change feed's counter, in
	// this transaction (SQLite's one writer), so that the per-row trigger
	// that would take them one by one stays idle.
	var last int64
	if err := tx.QueryRowContext(ctx, `UPDATE change_feed_state SET last_pos = last_pos + ? WHERE id = 1 RETURNING last_pos`, len(tickets)).Scan(&last); err != nil {
		return fmt.Errorf("reserve change positions: %w", err)
	}
	pos := last - int64(len(tickets))
	full, err := tx.PrepareContext(ctx, sqliteInsertSQL(sqliteInsertRows))
	if err != nil {
		return err
	}
	defer full.Close()
	args := make([]any, 0, sqliteInsertRows*(len(insertColumns)+1))
	for len(tickets) > 0 {
		n := min(len(tickets), sqliteInsertRows)
		args = args[:0]
		for i := range tickets[:n] {
			t := &tickets[i]
			tags, err := json.Marshal(t.Tags)
			if err != nil {
				return err
			}
			if t.Tags == nil {
				tags = []byte("[]")
			}
			pos++
			args = append(args, t.ID, t.Team, t.Subject, string(t.Status), string(t.Priority), t.Requester, t.Assignee,
				string(tags), t.CreatedAt.UnixMicro(), t.UpdatedAt.UnixMicro(), pos)
		}
		if n == sqliteInsertRows {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, sqliteInsertSQL(n), args...)
		}
		if err != nil {
			return err
		}
		tickets = tickets[n:]
	}
	return tx.Commit()
}

func sqliteInsertSQL(rows int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(insertColumns)+1), ", ") + ")"
	return "INSERT INTO tickets (" + strings.Join(insertColumns, ", ") + ", change_pos) VALUES " +
		strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// update writes t with one UPDATE: tags as a JSON array, timestamps as
// Unix microseconds.
func (s *sqliteEngine) update(ctx context.Context, t domain.Ticket) (sql.Result, error) {
	js, err := json.Marshal(t.Tags)
	if err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	return s.sql.ExecContext(ctx, `UPDATE tickets SET team = ?, subject = ?, status = ?, priority = ?, requester = ?,
			assignee = ?, tags = ?, updated_at = ? WHERE id = ?`,
		t.Team, t.Subject, string(t.Status), string(t.Priority), t.Requester, t.Assignee, string(js), t.UpdatedAt.UnixMicro(), t.ID)
}
