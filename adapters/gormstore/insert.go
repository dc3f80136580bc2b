package gormstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/domain"
)

// InsertTickets writes tickets, ids included, in one transaction: with COPY
// on PostgreSQL, with prepared multi-row INSERTs on SQLite. Every ticket is
// validated first; an invalid one fails the call with its EInvalid error and
// writes nothing.
func (s *Store) InsertTickets(ctx context.Context, tickets []domain.Ticket) error {
	for i := range tickets {
		if err := tickets[i].Validate(); err != nil {
			return fmt.Errorf("ticket %d: %w", tickets[i].ID, err)
		}
	}
	if len(tickets) == 0 {
		return nil
	}
	var err error
	if s.dialect == Postgres {
		err = s.copyPostgres(ctx, tickets)
	} else {
		err = s.insertSQLite(ctx, tickets)
	}
	if err != nil {
		return fmt.Errorf("insert %d tickets: %w", len(tickets), err)
	}
	return nil
}

var insertColumns = []string{"id", "team", "subject", "status", "priority", "requester", "assignee", "tags", "created_at", "updated_at"}

func (s *Store) copyPostgres(ctx context.Context, tickets []domain.Ticket) error {
	return s.withPgx(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			// Rows stamped with this transaction's id skip the change
			// feed's per-row trigger function: a COPY of a million rows
			// would otherwise call it a million times.
			// Nor are births recorded (00006_births.sql): this transaction
			// writes each row once.
			var xid int64
			if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint, set_config('ticketstream.bulk_load', 'on', true)`).Scan(&xid, new(string)); err != nil {
				return err
			}
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"tickets"}, append(insertColumns[:len(insertColumns):len(insertColumns)], "change_pos"), pgx.CopyFromSlice(len(tickets), func(i int) ([]any, error) {
				t := &tickets[i]
				tags := t.Tags
				if tags == nil {
					tags = []string{}
				}
				return []any{t.ID, t.Team, t.Subject, string(t.Status), string(t.Priority), t.Requester, t.Assignee, tags, t.CreatedAt, t.UpdatedAt, xid}, nil
			}))
			if err != nil {
				return err
			}
			// Rows came with their ids: move the identity past them so that
			// inserts without an id (other programs, later) do not collide.
			_, err = tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('tickets', 'id'), GREATEST((SELECT max(id) FROM tickets), 1))`)
			return err
		})
	})
}

// sqliteInsertRows is how many rows one INSERT carries: 11 parameters a row,
// far below SQLite's limit of 32766.
const sqliteInsertRows = 200

func (s *Store) insertSQLite(ctx context.Context, tickets []domain.Ticket) error {
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

// UpdateTicket writes t over the stored ticket with its id: every field but
// the id and created_at. It returns an EInvalid error for an invalid ticket
// and ENotFound if no ticket has the id.
func (s *Store) UpdateTicket(ctx context.Context, t domain.Ticket) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("ticket %d: %w", t.ID, err)
	}
	tags := t.Tags
	if tags == nil {
		tags = []string{}
	}
	var (
		query string
		args  []any
	)
	if s.dialect == Postgres {
		query = `UPDATE tickets SET team = $1, subject = $2, status = $3, priority = $4, requester = $5,
			assignee = $6, tags = $7, updated_at = $8 WHERE id = $9`
		args = []any{t.Team, t.Subject, string(t.Status), string(t.Priority), t.Requester, t.Assignee, tags, t.UpdatedAt, t.ID}
	} else {
		js, err := json.Marshal(tags)
		if err != nil {
			return fmt.Errorf("ticket %d tags: %w", t.ID, err)
		}
		query = `UPDATE tickets SET team = ?, subject = ?, status = ?, priority = ?, requester = ?,
			assignee = ?, tags = ?, updated_at = ? WHERE id = ?`
		args = []any{t.Team, t.Subject, string(t.Status), string(t.Priority), t.Requester, t.Assignee, string(js), t.UpdatedAt.UnixMicro(), t.ID}
	}
	res, err := s.sql.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("update ticket %d: %w", t.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return &domain.Error{Code: domain.ENotFound, Param: "id", Message: fmt.Sprintf("no ticket %d", t.ID)}
	}
	return nil
}
