package gormstore

import (
	"context"
	"database/sql/driver"
	"fmt"

	"gorm.io/gorm"
)

// withoutStatementTimeout runs fn on one PostgreSQL session of its own,
// outside a transaction (CONCURRENTLY needs that), without the statement
// timeout of the server's queries: an index build takes about a minute
// per million tickets. Then it releases the session's advisory locks (the
// sort-index lock) and resets the timeout before the connection goes back
// to the pool — and when that fails, as it does after a cancelled
// statement whose cancel request reaches the server late and cancels the
// next statement too, the connection is closed instead, its session
// taking both with it when it ends.
func (s *Store) withoutStatementTimeout(ctx context.Context, fn func(conn *gorm.DB) error) error {
	conn, err := s.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("index build: %w", err)
	}
	defer conn.Close()
	tx := s.gorm.WithContext(ctx).Session(&gorm.Session{})
	tx.Statement.ConnPool = conn
	defer func() {
		clean := tx.WithContext(context.WithoutCancel(ctx))
		if clean.Exec("SELECT pg_advisory_unlock_all()").Error != nil || clean.Exec("RESET statement_timeout").Error != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn }) // closed on Close
		}
	}()
	if err := tx.Exec("SET statement_timeout = 0").Error; err != nil {
		return fmt.Errorf("index build: %w", err)
	}
	return fn(tx)
}
