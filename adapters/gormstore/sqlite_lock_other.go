//go:build !unix

package gormstore

import (
	"context"
	"database/sql"
)

// fileLocker is a no-op where flock is missing: there, SQLite's own write
// lock and the idempotent migrations are the only guard.
type fileLocker struct{ path string }

// Lock implements goose's lock.Locker.
func (l *fileLocker) Lock(context.Context, *sql.DB) error { return nil }

// Unlock implements goose's lock.Locker.
func (l *fileLocker) Unlock(context.Context, *sql.DB) error { return nil }
