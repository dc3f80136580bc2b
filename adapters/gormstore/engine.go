package gormstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/pressly/goose/v3"
	"gorm.io/gorm"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// engine is what one database does its own way. Store's methods — the
// ports and the rest of the exported API — are written once, over an
// engine chosen by Open from the URL's scheme: postgresEngine (the
// postgres_*.go files) or sqliteEngine (sqlite_*.go). Each holds its
// dialect's SQL text beside the code that runs it.
//
// gorm opens both pools and serves the small queries (Count, MaxID, Gorm).
// The engines read and write tickets below it, on the same pool: gorm's
// reflection costs a third or more of the rows per second a stream needs,
// and gorm has no way to say COPY, a pipelined batch of queries or SQLite's
// BEGIN IMMEDIATE. Each engine's stream says which driver it reads with.
type engine interface {
	// name is the dialect, as Store.Dialect reports it and as the
	// migrations' directory is named.
	name() Dialect
	// openPools opens the store's main and readiness pools (without
	// connecting yet) and returns gorm's dialector over the main one.
	openPools(cfg Config) (gorm.Dialector, error)
	// connectError returns a user-facing error for a connection failure
	// that retrying cannot fix, or nil for one that may pass.
	connectError(err error) error
	// migrationProvider returns goose's dialect and the provider's
	// options beyond the defaults; locked adds the migration lock.
	migrationProvider(locked bool) (goose.Dialect, []goose.ProviderOption, error)
	// style is how the dialect writes parameters and value lists.
	style() *sqlStyle

	// stream reads the tickets q selects in keyset batches of sel, q's
	// select in the engine's style, into h; q is valid and batchSize
	// positive.
	stream(ctx context.Context, q domain.Query, sel selectSQL, batchSize int, h ports.BatchHandler) error
	// ticket reads the ticket with id, reporting whether there is one.
	ticket(ctx context.Context, id int64) (domain.Ticket, bool, error)
	// insert writes valid tickets, ids included, in one transaction.
	insert(ctx context.Context, tickets []domain.Ticket) error
	// update writes valid t (whose Tags are not nil) over the stored ticket
	// with its id, but created_at.
	update(ctx context.Context, t domain.Ticket) (sql.Result, error)

	// readChanges implements ChangeFeed.ReadChanges, batchSize positive;
	// its error is not yet wrapped.
	readChanges(ctx context.Context, after, until domain.ChangePos, batchSize int, h ports.ChangeHandler) (domain.ChangePos, error)
	// horizon is a position covering every change committed so far.
	horizon(ctx context.Context) (domain.ChangePos, error)
	// frontier implements ChangeFeed.Frontier, its error wrapped.
	frontier(ctx context.Context) (domain.ChangePos, error)
	// oldestWriter implements ChangeFeed.OldestWriter.
	oldestWriter(ctx context.Context) (ports.Writer, error)
	// lockHolder implements ChangeFeed.LockHolder.
	lockHolder(ctx context.Context) (ports.Writer, error)
	// snapshotTx is how a read-only transaction sees one snapshot.
	snapshotTx() *sql.TxOptions
	// prune deletes the removals and departures recorded before cutoff
	// that readTo covers, records how far removals were pruned, and
	// returns how many removals went.
	prune(ctx context.Context, cutoff time.Time, readTo domain.ChangePos) (int64, error)
	// historyKept returns, as a snapshot of now sees it, a position that
	// covers every change whose removal or departure a prune may have
	// taken: a reader must have had them all (checkHistoryKept).
	historyKept(ctx context.Context) (domain.ChangePos, error)
	// identity implements ChangeFeed.Identity, its error wrapped.
	identity(ctx context.Context) (uint64, error)
}

// sqlStyle is how a dialect writes the parts of a statement that differ:
// its placeholders and the test of a column against a list of values.
type sqlStyle struct {
	// param returns the placeholder of the nth parameter, from 1.
	param func(n int) string
	// in writes " AND column <is one of values>" to b, with b.param for
	// each placeholder it needs, and returns args with the values appended.
	in func(b *sqlBuilder, column string, values []string, args []any) []any
	// search writes " AND (subject or requester LIKE pattern)", the letters
	// A to Z of the columns compared in lower case (see domain.FoldSearch),
	// and returns args with pattern appended as often as it needs.
	search func(b *sqlBuilder, pattern string, args []any) []any
	// notAmong writes " AND column <is none of values>" likewise.
	notAmong func(b *sqlBuilder, column string, values []int64, args []any) []any
	// bytewise follows a text column to compare it by its bytes, as
	// domain.Sort orders team and assignee.
	bytewise string
	// stamp is a timestamp as a parameter compared with a timestamp column.
	stamp func(time.Time) any
	// leadKeys: a sorted select reads the values of its sort keys, as
	// stored, before the ticket's columns, so that the next batch resumes
	// after the last row even when that row does not decode.
	leadKeys bool
}

// newEngine returns the engine of dialect d over s. Open calls it once:
// past it, no code asks which database it talks to.
func newEngine(s *Store, d Dialect) engine {
	if d == Postgres {
		return &postgresEngine{s}
	}
	return &sqliteEngine{s}
}
