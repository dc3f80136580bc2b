package gormstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/ticketstream/ticketstream/domain"
)

// postgresEngine is the engine of PostgreSQL, through pgx: gorm's
// PostgreSQL driver opens and pools the connections over pgx's
// database/sql driver, and the ticket reads and writes take the native
// pgx.Conn under a pooled connection (see withPgx).
type postgresEngine struct{ *Store }

var _ engine = (*postgresEngine)(nil)

func (*postgresEngine) name() Dialect { return Postgres }

// postgresStyle numbers placeholders ($1, $2, …) and passes a list of
// values as one array parameter, so that a query's text does not depend on
// how many values a filter has.
var postgresStyle = sqlStyle{
	param: func(n int) string { return fmt.Sprintf("$%d", n) },
	in: func(b *sqlBuilder, column string, values []string, args []any) []any {
		b.WriteString(" AND " + column + " = ANY(" + b.param() + ")")
		return append(args, values)
	},
	notAmong: func(b *sqlBuilder, column string, values []int64, args []any) []any {
		b.WriteString(" AND " + column + " <> ALL(" + b.param() + "::bigint[])")
		return append(args, values)
	},
	// The expression of the trigram index of migration 00008, to the
	// letter, so that the planner can use it.
	search: func(b *sqlBuilder, pattern string, args []any) []any {
		b.WriteString(` AND lower(subject || chr(31) || requester COLLATE "C") LIKE ` + b.param() + ` ESCAPE '\'`)
		return append(args, pattern)
	},
	bytewise: ` COLLATE "C"`,
	stamp:    func(t time.Time) any { return t },
}

func (*postgresEngine) style() *sqlStyle { return &postgresStyle }

// openPools opens the pools (without connecting yet) and returns the gorm
// dialector over the main one.
func (s *postgresEngine) openPools(cfg Config) (gorm.Dialector, error) {
	pgcfg, err := pgx.ParseConfig(s.target.dsn)
	if err != nil {
		return nil, domain.Invalidf("database", "PostgreSQL URL: %s", redactDriverError(err, s.url))
	}
	rt := pgcfg.RuntimeParams
	if _, ok := rt["application_name"]; !ok {
		rt["application_name"] = "ticketstream"
	}
	rt["statement_timeout"] = fmt.Sprint(cfg.StatementTimeout.Milliseconds())
	// A transaction left open by a crashed client must not hold back
	// vacuum for ever.
	rt["idle_in_transaction_session_timeout"] = "60000"
	// On a cancelled context, ask the server to cancel the running query,
	// then drop the connection (cancelThenDiscard).
	pgcfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &cancelThenDiscard{pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}}
	}
	pgcfg.ConnectTimeout = 5 * time.Second
	s.sql = openPgxDB(*pgcfg)
	s.configurePool(cfg, 16)
	s.probe = openPgxDB(*pgcfg)
	configureProbe(s.probe)
	return postgres.New(postgres.Config{Conn: s.sql}), nil
}

// connectError returns a user-facing error for a connection failure that
// retrying cannot fix — refused credentials, a missing database — or nil for
// one that may pass: a server that is down, restarting or still starting.
func (*postgresEngine) connectError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return nil
	}
	switch pgErr.Code {
	case "28P01", "28000": // invalid_password, invalid_authorization_specification
		return &domain.Error{Code: domain.EUnauthorized, Param: "database",
			Message: "PostgreSQL refused the credentials: " + pgErr.Message + " (check the user and password in the database URL)"}
	case "3D000": // invalid_catalog_name
		return &domain.Error{Code: domain.EInvalid, Param: "database",
			Message: "PostgreSQL database does not exist: " + pgErr.Message + " (create it, or fix the database name in the URL)"}
	}
	return nil
}

// migrationProvider locks migrations with a PostgreSQL advisory lock,
// held by the session that migrates.
func (*postgresEngine) migrationProvider(locked bool) (goose.Dialect, []goose.ProviderOption, error) {
	if !locked {
		return goose.DialectPostgres, nil, nil
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300), lock.WithUnlockTimeout(1, 60))
	if err != nil {
		return "", nil, fmt.Errorf("migration lock: %w", err)
	}
	return goose.DialectPostgres, []goose.ProviderOption{goose.WithSessionLocker(locker)}, nil
}

// identity mixes the cluster's system identifier, which a restore into
// another cluster (a new initdb) changes while a standby of the same
// cluster keeps it, with the database's oid, which differs for every
// database of the cluster — another one, or a copy restored with
// pg_restore, whose tables (and default cursor key) are the same but whose
// positions are not. A role that may not call pg_control_system() gets the
// database's own random id instead.
func (s *postgresEngine) identity(ctx context.Context) (uint64, error) {
	var sys, oid int64
	err := s.sql.QueryRowContext(ctx, `SELECT system_identifier, (SELECT oid::bigint FROM pg_database WHERE datname = current_database()) FROM pg_control_system()`).Scan(&sys, &oid)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return postgresIdentity(sys, oid), nil
	case !errors.As(err, &pgErr) || pgErr.Code != "42501": // insufficient_privilege
		return 0, fmt.Errorf("database identity: %w", unavailable(err))
	}
	return s.databaseID(ctx)
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
