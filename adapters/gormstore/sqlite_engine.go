package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/libtnb/sqlite"
	"github.com/pressly/goose/v3"
	"gorm.io/gorm"

	"github.com/ticketstream/ticketstream/domain"
)

// sqliteEngine is the engine of an SQLite file, through database/sql: gorm
// opens and pools the connections with the same driver, and the ticket
// reads and writes run on that pool's *sql.DB, where SQLite, in process,
// costs no round trip per query.
type sqliteEngine struct{ *Store }

var _ engine = (*sqliteEngine)(nil)

func (*sqliteEngine) name() Dialect { return SQLite }

// sqliteStyle writes anonymous placeholders and a list of values as one
// placeholder each.
var sqliteStyle = sqlStyle{
	param: func(int) string { return "?" },
	in: func(b *sqlBuilder, column string, values []string, args []any) []any {
		return sqliteList(b, " AND "+column+" IN (", values, args)
	},
	notAmong: func(b *sqlBuilder, column string, values []int64, args []any) []any {
		return sqliteList(b, " AND "+column+" NOT IN (", values, args)
	},
	// SQLite's LIKE folds the letters A to Z and nothing else: what a
	// search means (domain.FoldSearch). No index serves it; a search reads
	// every ticket of the rest of its filter (measured in docs).
	search: func(b *sqlBuilder, pattern string, args []any) []any {
		b.WriteString(" AND (subject LIKE " + b.param() + ` ESCAPE '\' OR requester LIKE ` + b.param() + ` ESCAPE '\')`)
		return append(args, pattern, pattern)
	},
	stamp:    func(t time.Time) any { return t.UnixMicro() },
	leadKeys: true,
}

// sqliteList writes head, a placeholder for each value and ")".
func sqliteList[T any](b *sqlBuilder, head string, values []T, args []any) []any {
	b.WriteString(head)
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(b.param())
		args = append(args, v)
	}
	b.WriteString(")")
	return args
}

func (*sqliteEngine) style() *sqlStyle { return &sqliteStyle }

// sqlitePragmas make the embedded database fit a server: WAL lets readers
// stream while a writer commits, busy_timeout makes a second writer wait
// instead of failing, and NORMAL sync is safe under WAL.
const sqlitePragmas = "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)"

// openPools opens the pools (without connecting yet) and returns the gorm
// dialector over the main one.
//
// The driver is modernc.org/sqlite, SQLite transpiled to Go (no cgo), which
// registers itself as "sqlite" with database/sql; the pools are opened with
// it directly, so the DSN's pragmas are exactly ours. gorm reaches them
// through github.com/libtnb/sqlite, a dialector built on that same module
// and version. Importing that dialector also switches three process-wide
// settings of modernc.org/sqlite on: a _pragma DSN value must be a single
// statement, the database file is locked with Linux OFD locks (which
// another open of the same file in this process cannot silently release,
// as POSIX locks can), and syncs use fdatasync, as SQLite built from C
// does on Linux, with the same durability.
func (s *sqliteEngine) openPools(cfg Config) (gorm.Dialector, error) {
	var err error
	if s.sql, err = sql.Open(sqlite.DriverName, s.target.dsn); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", s.target.path, err)
	}
	s.configurePool(cfg, 8)
	if s.probe, err = sql.Open(sqlite.DriverName, s.target.dsn); err != nil {
		s.sql.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", s.target.path, err)
	}
	configureProbe(s.probe)
	return sqlite.New(sqlite.Config{Conn: s.sql}), nil
}

// connectError returns nil for a file that is busy for a moment, and a
// user-facing error for any other failure of a local file: nothing to wait
// for.
func (s *sqliteEngine) connectError(err error) error {
	if sqliteBusy(err) {
		// Another process (or store) holds the file while it opens or
		// migrates it: connecting sets WAL mode, which SQLite can refuse
		// without waiting for the busy timeout. Seen in CI with four
		// stores migrating one new file at once.
		return nil
	}
	// Any other failure of a local file: nothing to wait for.
	return &domain.Error{Code: domain.EUnavailable, Param: "database",
		Message: fmt.Sprintf("cannot open SQLite database %q: %v (does its directory exist and is it writable?)", s.target.path, err)}
}

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED
// (or one of their extended codes), which end when the other connection's
// work does.
func sqliteBusy(err error) bool {
	var coded interface{ Code() int }
	if !errors.As(err, &coded) {
		return false
	}
	const sqliteBusyCode, sqliteLockedCode = 5, 6 // primary result codes
	switch coded.Code() & 0xff {
	case sqliteBusyCode, sqliteLockedCode:
		return true
	}
	return false
}

// migrationProvider locks migrations of a file with an exclusive file lock
// beside it; an in-memory database, private to this process, needs none.
func (s *sqliteEngine) migrationProvider(locked bool) (goose.Dialect, []goose.ProviderOption, error) {
	var opts []goose.ProviderOption
	if locked && s.target.path != "" {
		opts = append(opts, goose.WithLocker(&fileLocker{path: s.target.path + ".migrate-lock"}))
	}
	return goose.DialectSQLite3, opts, nil
}

// identity is a random id made when the database was first opened, carried
// along when the file is copied — with its positions.
func (s *sqliteEngine) identity(ctx context.Context) (uint64, error) {
	return s.databaseID(ctx)
}
