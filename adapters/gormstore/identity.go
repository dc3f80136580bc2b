package gormstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ticketstream/ticketstream/domain"
)

// cursorKeyLen is the size of the cursor key a store makes.
const cursorKeyLen = 32

// CursorKey returns the key that seals the cursors handed to clients: 32
// random bytes made by the first server that asks and stored in the
// database, so that every replica and every restart shares it with no
// setup. Anyone who can read change_feed_state can forge cursors, which is
// no more than they could read already.
func (s *Store) CursorKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := s.writeOnce(ctx, "cursor_key", func() (any, error) {
		k := make([]byte, cursorKeyLen)
		_, err := rand.Read(k)
		return k, err
	}, func(row *sql.Row) (bool, error) {
		var k []byte
		if err := row.Scan(&k); err != nil {
			return false, err
		}
		key = k
		return k != nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	if len(key) < domain.MinCursorKeyLen {
		return nil, fmt.Errorf("cursor key: change_feed_state.cursor_key holds %d bytes, want %d", len(key), cursorKeyLen)
	}
	return key, nil
}

// Identity implements ports.ChangeFeed: an id that tells this database
// from every other whose positions a cursor could be mistaken for (see
// each engine's identity).
func (s *Store) Identity(ctx context.Context) (uint64, error) {
	return s.eng.identity(ctx)
}

// databaseID returns the random id stored in the database, making it first
// if no server has yet.
func (s *Store) databaseID(ctx context.Context) (uint64, error) {
	var id uint64
	err := s.writeOnce(ctx, "database_id", func() (any, error) {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		// Positive, so that it reads back alike as a signed integer; never 0.
		return int64(binary.BigEndian.Uint64(b[:])>>1) | 1, nil
	}, func(row *sql.Row) (bool, error) {
		var v sql.NullInt64
		if err := row.Scan(&v); err != nil {
			return false, err
		}
		id = uint64(v.Int64)
		return v.Valid, nil
	})
	if err != nil {
		return 0, fmt.Errorf("database identity: %w", err)
	}
	return id, nil
}

// writeOnce reads column of change_feed_state with scan, which reports
// whether it is set; if not, it sets it to fresh's value unless another
// server did meanwhile, and reads it again. Every server thus ends up with
// the first value written. column is one of ours, never user input.
func (s *Store) writeOnce(ctx context.Context, column string, fresh func() (any, error), scan func(*sql.Row) (bool, error)) error {
	sel := `SELECT ` + column + ` FROM change_feed_state WHERE id = 1`
	ok, err := scan(s.sql.QueryRowContext(ctx, sel))
	if err != nil || ok {
		return unavailable(err)
	}
	v, err := fresh()
	if err != nil {
		return err
	}
	upd := `UPDATE change_feed_state SET ` + column + ` = ` + s.eng.style().param(1) + ` WHERE id = 1 AND ` + column + ` IS NULL`
	if _, err := s.sql.ExecContext(ctx, upd, v); err != nil {
		return unavailable(err)
	}
	if ok, err = scan(s.sql.QueryRowContext(ctx, sel)); err == nil && !ok {
		err = errors.New(column + " is still unset after writing it")
	}
	return unavailable(err)
}
