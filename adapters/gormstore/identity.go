package gormstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5/pgconn"

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

// Identity implements ports.ChangeFeed. On PostgreSQL it mixes the
// cluster's system identifier, which a restore into another cluster (a new
// initdb) changes while a standby of the same cluster keeps it, with the
// database's oid, which differs for every database of the cluster — another
// one, or a copy restored with pg_restore, whose tables (and default cursor
// key) are the same but whose positions are not; a role that may not call
// pg_control_system() gets the database's own random id instead. On SQLite
// it is a random id made when the database was first opened, carried along
// when the file is copied — with its positions.
func (s *Store) Identity(ctx context.Context) (uint64, error) {
	if s.dialect == Postgres {
		var sys, oid int64
		err := s.sql.QueryRowContext(ctx, `SELECT system_identifier, (SELECT oid::bigint FROM pg_database WHERE datname = current_database()) FROM pg_control_system()`).Scan(&sys, &oid)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			return postgresIdentity(sys, oid), nil
		case !errors.As(err, &pgErr) || pgErr.Code != "42501": // insufficient_privilege
			return 0, fmt.Errorf("database identity: %w", connectionLost(err))
		}
	}
	return s.databaseID(ctx)
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
		return connectionLost(err)
	}
	v, err := fresh()
	if err != nil {
		return err
	}
	upd := `UPDATE change_feed_state SET ` + column + ` = $1 WHERE id = 1 AND ` + column + ` IS NULL`
	if s.dialect == SQLite {
		upd = `UPDATE change_feed_state SET ` + column + ` = ? WHERE id = 1 AND ` + column + ` IS NULL`
	}
	if _, err := s.sql.ExecContext(ctx, upd, v); err != nil {
		return connectionLost(err)
	}
	if ok, err = scan(s.sql.QueryRowContext(ctx, sel)); err == nil && !ok {
		err = errors.New(column + " is still unset after writing it")
	}
	return connectionLost(err)
}

// postgresIdentity mixes a cluster's system identifier and a database's
// oid into one identity, never 0.
func postgresIdentity(sys, oid int64) uint64 {
	h := fnv.New64a()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], uint64(sys))
	binary.BigEndian.PutUint64(b[8:], uint64(oid))
	h.Write(b[:])
	return h.Sum64() | 1
}
