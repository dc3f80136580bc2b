package ports

import (
	"context"
	"errors"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// ErrHistoryPruned means a read of the feed started before history the
// retention has already pruned: removals and departures between its start
// and now may be gone, so no reader at its start can be brought up to date
// from the feed.
var ErrHistoryPruned = errors.New("the change history was pruned past the read's start")

// Change is one ticket's new state in the change feed: the ticket as it is
// now, or its removal. It does not say which teams the ticket left: a read
// that runs across pages may find a version it covers already replaced by
// a later one, which the next read delivers, so no one read can name every
// team a ticket left since a reader last heard of it. A reader that may
// hold an earlier version (a dashboard that resumes) asks Departed, with no
// lower bound; one that knows what it holds needs neither.
type Change struct {
	// Pos is the reader's position once it has had this change (and the
	// ones before it in the read): a reader resumed there gets the rest.
	// Pos.Seq and Pos.ID name the change itself: the transaction that made
	// it and the ticket.
	Pos domain.ChangePos
	// Removed means the ticket was deleted; only Ticket.ID is set.
	Removed bool
	// Ticket is the ticket's current state.
	Ticket domain.Ticket
}

// ChangeHandler receives the batches of ChangeFeed.ReadChanges.
type ChangeHandler interface {
	// HandleChanges processes one batch; a non-nil error stops the read.
	// The batch is the handler's only for the call: a feed may fill the
	// same slice on its next read. A Change copied out of it stays valid,
	// its strings and tags included.
	HandleChanges(batch []Change) error
}

// ChangeHandlerFunc adapts a function to ChangeHandler.
type ChangeHandlerFunc func(batch []Change) error

// HandleChanges calls f(batch).
func (f ChangeHandlerFunc) HandleChanges(batch []Change) error { return f(batch) }

// ChangeFeed reads what changed in the tickets, from any writer, as each
// change's transaction commits: transactions commit in any order, and a
// position (domain.ChangePos) records which of them a reader has had, so
// that one left open for minutes holds back no other transaction's changes
// and is read when it commits.
//
// A feed reads current states, not a history of versions: a ticket changed
// several times between two reads appears once, as it is now, at the position
// of its latest change. So every reader sees each ticket's versions in the
// order they were committed, never an older one after a newer one, and a
// reader that resumes after a position gets exactly the current state of what
// changed after it.
type ChangeFeed interface {
	// ReadChanges calls h with successive batches of the changes a reader
	// at `after` has not had — of those a reader at until has, unless until
	// is zero — in (transaction, ticket id) order, at most batchSize each
	// (<= 0: DefaultBatchSize). The
	// batch and its tickets are valid only during the call. A stored ticket
	// the feed cannot decode is left out (the adapter logs and counts it),
	// and the position still moves past it: one bad row does not stop the
	// feed.
	//
	// It returns the position reached: a reader that continues from it
	// misses nothing. With a zero until that is a snapshot taken at the
	// read's start (every transaction committed by then, none still open);
	// otherwise it is until.
	//
	// When the retention has pruned removals or departures that a reader
	// at `after` has not had — another reader pruned them first, or a
	// transaction committed them longer ago than the retention — it fails
	// with ErrHistoryPruned before it hands over any change it cannot
	// vouch for: the reader must start afresh.
	ReadChanges(ctx context.Context, after, until domain.ChangePos, batchSize int, h ChangeHandler) (domain.ChangePos, error)

	// Horizon returns the position of a reader that has had every change
	// committed so far: a reader starting there gets the changes from now
	// on, those of transactions still open included.
	Horizon(ctx context.Context) (domain.ChangePos, error)

	// Frontier returns a position after every change committed so far:
	// it covers every transaction begun before the call, open or not, so
	// no position a server handed out before the call lies beyond it. It
	// is no position to read from: a transaction open at the call would
	// be skipped.
	Frontier(ctx context.Context) (domain.ChangePos, error)

	// Identity identifies the database whose positions these are: never 0,
	// the same on every call and every replica for one database, and
	// different for another database whose positions would mean something
	// else — on PostgreSQL another cluster, as after a restore into a new
	// one; on SQLite another database file. A cursor records it, so that a
	// position is never resumed on a database it does not belong to.
	Identity(ctx context.Context) (uint64, error)

	// Departed returns the ids of the tickets that left one of teams — their
	// team changed, or they were deleted — at a position after `after`,
	// each once: what a dashboard of those teams that stood at `after` may
	// hold though the tickets are no longer in its teams.
	Departed(ctx context.Context, after domain.ChangePos, teams []string) ([]int64, error)

	// DeparturesExact reports whether Departed names only tickets that were
	// in one of the teams for some reader: false where a ticket in a team
	// only inside one transaction (inserted, then moved, before it
	// committed) may be named too, which would tell a dashboard of that
	// team of a ticket it never could see (SQLite's triggers cannot tell
	// one transaction from the next).
	DeparturesExact() bool

	// ChangedSince calls fn with every ticket that changed after `after` and
	// exists now, with its current team, then with every ticket deleted
	// after it (removed, team ""), each once, in no particular order.
	// Unlike ReadChanges it sees every change committed before the call,
	// however recent: a dashboard that resumes from `after` may hold any of
	// these tickets in a state the server cannot know, and none other.
	ChangedSince(ctx context.Context, after domain.ChangePos, fn func(id int64, team string, removed bool) error) error

	// ResumableAfter returns the least a reader's position must include to
	// resume: it covers every change whose removal or departure may have
	// been pruned (see PruneRemovals), so a reader that lacks any of them
	// must start over from a snapshot. A transaction still open, or open
	// when the prunes that took anything ran, is not among them.
	ResumableAfter(ctx context.Context) (domain.ChangePos, error)

	// PruneRemovals forgets the removals and departures (see Departed) of
	// changes readTo covers whose transactions committed before cutoff
	// (where writers take turns, whose statements ran before it; it may
	// keep some a little longer), bounding the feed's history, and returns
	// how many removals it forgot. readTo is a position the caller has
	// read up to: age alone would let a reader held back longer than the
	// retention lose removals it has yet to read. A zero readTo forgets
	// none. A transaction open while it runs loses nothing it has not yet
	// committed, and a reader that has it pending loses nothing by it.
	PruneRemovals(ctx context.Context, cutoff time.Time, readTo domain.ChangePos) (int64, error)

	// OldestWriter describes the longest-running transaction that has
	// written and not finished, for the operator to be told of it when it
	// holds back what can still wait for it (see app.HubConfig). A zero Age
	// means none.
	OldestWriter(ctx context.Context) (Writer, error)

	// LockHolder describes the session at the head of the lock queue that
	// this server's own sessions wait in, if any — what holds a feed read
	// that waits on a lock (LOCK TABLE, ALTER TABLE), named when the feed
	// stalls. A zero PID means none.
	LockHolder(ctx context.Context) (Writer, error)
}

// Writer describes a database session with an open transaction: the
// oldest that has written (OldestWriter), or one holding a lock others
// wait for (LockHolder).
type Writer struct {
	Age         time.Duration // since its transaction began
	PID         int           // server process id
	Application string        // application_name
	State       string        // "active", "idle in transaction", …
}
