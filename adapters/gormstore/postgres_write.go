package gormstore

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/domain"
)

// insert writes tickets with COPY, in one transaction.
func (s *postgresEngine) insert(ctx context.Context, tickets []domain.Ticket) error {
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

// update writes t with one UPDATE: tags as a text[] parameter.
func (s *postgresEngine) update(ctx context.Context, t domain.Ticket) (sql.Result, error) {
	return s.sql.ExecContext(ctx, `UPDATE tickets SET team = $1, subject = $2, status = $3, priority = $4, requester = $5,
			assignee = $6, tags = $7, updated_at = $8 WHERE id = $9`,
		t.Team, t.Subject, string(t.Status), string(t.Priority), t.Requester, t.Assignee, t.Tags, t.UpdatedAt, t.ID)
}
