package portstest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// Feed is an in-memory ticket database with its change feed: each write
// gets the next position, and feed reads return current states, as the real
// feeds do. It implements ports.ChangeFeed, ports.TicketSource (honouring
// Query.AsOf) and TicketWriter. Safe for concurrent use.
type Feed struct {
	mu sync.Mutex
	// seq is the last transaction number handed out; open are the
	// transactions begun (Begin) and not yet committed, ascending.
	seq   uint64
	open  []uint64
	state map[int64]feedEntry
	// prunedTo covers every change whose removal or departure was
	// pruned: the join, over the prunes, of what each could take up to
	// the last change it took (domain.TookUpTo).
	prunedTo domain.ChangePos
	err      error
	writer   ports.Writer
	holder   ports.Writer
	delay    time.Duration
	removed  map[int64]time.Time
	id       uint64
	// left records every departure of a ticket from a team, in position
	// order.
	left []departure
	// inexact: DeparturesExact reports false (SetDeparturesInexact).
	inexact bool
	// hung, while not nil, holds every read, prune and OldestWriter until
	// it is closed or their context ends (Hang).
	hung chan struct{}
}

// departure is a ticket leaving a team: moved elsewhere, or deleted.
type departure struct {
	pos  rowPos
	team string
	at   time.Time
}

type feedEntry struct {
	pos     rowPos
	removed bool
	ticket  domain.Ticket
}

// rowPos names a change: the transaction that made it and the ticket.
type rowPos struct {
	seq uint64
	id  int64
}

func (r rowPos) compare(o rowPos) int {
	if c := cmp.Compare(r.seq, o.seq); c != 0 {
		return c
	}
	return cmp.Compare(r.id, o.id)
}

// covered reports whether a reader at p has had the change r.
func (r rowPos) coveredBy(p domain.ChangePos) bool { return p.Covers(r.seq, r.id) }

var (
	_ ports.ChangeFeed   = (*Feed)(nil)
	_ ports.TicketSource = (*Feed)(nil)
	_ TicketWriter       = (*Feed)(nil)
)

// StreamTickets implements ports.TicketSource over the tickets that exist
// now, only those last changed at or before q.AsOf if it is set.
func (f *Feed) StreamTickets(ctx context.Context, q domain.Query, batchSize int, h ports.BatchHandler) error {
	f.mu.Lock()
	var rows []domain.Ticket
	for _, e := range f.state {
		if !e.removed && (q.AsOf.IsZero() || e.pos.coveredBy(q.AsOf)) {
			t := e.ticket
			t.Tags = slices.Clone(t.Tags)
			rows = append(rows, t)
		}
	}
	delay := f.delay
	f.mu.Unlock()
	src := &Source{Tickets: rows, BatchDelay: delay}
	return src.StreamTickets(ctx, q, batchSize, h)
}

// NewFeed returns an empty Feed.
func NewFeed() *Feed {
	return &Feed{state: map[int64]feedEntry{}, removed: map[int64]time.Time{}}
}

// Put writes tickets (inserted or updated), each in a transaction of its
// own, and returns the position right after the last.
func (f *Feed) Put(tickets ...domain.Ticket) domain.ChangePos {
	f.mu.Lock()
	defer f.mu.Unlock()
	var pos domain.ChangePos
	for _, t := range tickets {
		f.seq++
		f.putLocked(f.seq, t)
		pos = domain.ChangePos{Xmax: f.seq, Seq: f.seq, ID: t.ID, Pending: f.openLocked()}
	}
	return pos
}

// putLocked writes t as transaction seq.
func (f *Feed) putLocked(seq uint64, t domain.Ticket) {
	t.Tags = slices.Clone(t.Tags)
	pos := rowPos{seq, t.ID}
	if old, ok := f.state[t.ID]; ok && !old.removed && old.ticket.Team != t.Team && old.pos.seq != seq {
		f.left = append(f.left, departure{pos: pos, team: old.ticket.Team, at: time.Now()})
	}
	f.state[t.ID] = feedEntry{pos: pos, ticket: t}
	delete(f.removed, t.ID)
}

// Remove deletes the tickets with ids, each in a transaction of its own.
func (f *Feed) Remove(ids ...int64) domain.ChangePos {
	f.mu.Lock()
	defer f.mu.Unlock()
	var pos domain.ChangePos
	for _, id := range ids {
		f.seq++
		f.removeLocked(f.seq, id)
		pos = domain.ChangePos{Xmax: f.seq, Seq: f.seq, ID: id, Pending: f.openLocked()}
	}
	return pos
}

// removeLocked deletes ticket id as transaction seq.
func (f *Feed) removeLocked(seq uint64, id int64) {
	pos := rowPos{seq, id}
	if old, ok := f.state[id]; ok && !old.removed && old.pos.seq != seq {
		f.left = append(f.left, departure{pos: pos, team: old.ticket.Team, at: time.Now()})
	}
	f.state[id] = feedEntry{pos: pos, removed: true, ticket: domain.Ticket{ID: id}}
	f.removed[id] = time.Now()
}

// Tx is an open transaction of a Feed: it has its transaction number from
// Begin, and its writes become visible, all at once, at Commit. Meanwhile
// transactions begun after it may commit, as on PostgreSQL.
type Tx struct {
	f      *Feed
	seq    uint64
	puts   []domain.Ticket
	gone   []int64
	closed bool
}

// Begin opens a transaction: it takes the next transaction number now.
func (f *Feed) Begin() *Tx {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.open = append(f.open, f.seq)
	return &Tx{f: f, seq: f.seq}
}

// Put writes tickets in tx.
func (tx *Tx) Put(tickets ...domain.Ticket) { tx.puts = append(tx.puts, tickets...) }

// Remove deletes tickets in tx.
func (tx *Tx) Remove(ids ...int64) { tx.gone = append(tx.gone, ids...) }

// Commit makes tx's writes visible.
func (tx *Tx) Commit() {
	f := tx.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if tx.closed {
		return
	}
	tx.closed = true
	for _, t := range tx.puts {
		f.putLocked(tx.seq, t)
	}
	for _, id := range tx.gone {
		f.removeLocked(tx.seq, id)
	}
	f.open = slices.DeleteFunc(f.open, func(x uint64) bool { return x == tx.seq })
}

// Rollback ends tx without its writes.
func (tx *Tx) Rollback() {
	f := tx.f
	f.mu.Lock()
	defer f.mu.Unlock()
	tx.closed = true
	f.open = slices.DeleteFunc(f.open, func(x uint64) bool { return x == tx.seq })
}

// snapshotLocked is the position a reader reaches now: every transaction
// handed out but the open ones.
func (f *Feed) snapshotLocked() domain.ChangePos {
	return domain.ChangePos{Xmax: f.seq + 1, Pending: f.openLocked()}
}

// openLocked returns the open transactions, nil if none.
func (f *Feed) openLocked() []uint64 {
	if len(f.open) == 0 {
		return nil
	}
	return slices.Clone(f.open)
}

// Tickets returns the tickets that exist now, in (updated_at, id) order.
func (f *Feed) Tickets() []domain.Ticket {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []domain.Ticket
	for _, e := range f.state {
		if !e.removed {
			out = append(out, e.ticket)
		}
	}
	return SortedTickets(out)
}

// InsertTickets implements TicketWriter.
func (f *Feed) InsertTickets(_ context.Context, tickets []domain.Ticket) error {
	f.Put(tickets...)
	return nil
}

// UpdateTicket implements TicketWriter; an update that changes nothing
// keeps its position.
func (f *Feed) UpdateTicket(_ context.Context, t domain.Ticket) error {
	f.mu.Lock()
	e, ok := f.state[t.ID]
	f.mu.Unlock()
	if !ok || e.removed {
		return &domain.Error{Code: domain.ENotFound, Param: "id", Message: "no such ticket"}
	}
	t.CreatedAt = e.ticket.CreatedAt
	if DiffTicket(t, e.ticket) == "" {
		return nil
	}
	f.Put(t)
	return nil
}

// DeleteTicket implements TicketWriter.
func (f *Feed) DeleteTicket(_ context.Context, id int64) error {
	f.mu.Lock()
	e, ok := f.state[id]
	f.mu.Unlock()
	if !ok || e.removed {
		return &domain.Error{Code: domain.ENotFound, Param: "id", Message: "no such ticket"}
	}
	f.Remove(id)
	return nil
}

// spoiltChange overwrites each change of a batch once its handler returns.
var spoiltChange = ports.Change{Removed: true, Ticket: domain.Ticket{ID: -1, Team: "(a batch kept after its handler returned)"}}

// ReadChanges implements ports.ChangeFeed.
func (f *Feed) ReadChanges(ctx context.Context, after, until domain.ChangePos, batchSize int, h ports.ChangeHandler) (domain.ChangePos, error) {
	if batchSize <= 0 {
		batchSize = ports.DefaultBatchSize
	}
	if err := f.waitHung(ctx); err != nil {
		return after, err
	}
	f.mu.Lock()
	if err := f.err; err != nil {
		f.mu.Unlock()
		return after, err
	}
	if kept := f.prunedTo; !kept.IsZero() && !after.Includes(kept) {
		f.mu.Unlock()
		return after, fmt.Errorf("%w: a read from %v, the history kept from %v", ports.ErrHistoryPruned, after, kept)
	}
	target := until
	if until.IsZero() {
		target = f.snapshotLocked()
	}
	type row struct {
		pos rowPos
		c   ports.Change
	}
	var rows []row
	for _, e := range f.state {
		if !e.pos.coveredBy(after) && e.pos.coveredBy(target) {
			t := e.ticket
			t.Tags = slices.Clone(t.Tags)
			rows = append(rows, row{e.pos, ports.Change{Removed: e.removed, Ticket: t}})
		}
	}
	f.mu.Unlock()
	slices.SortFunc(rows, func(a, b row) int { return a.pos.compare(b.pos) })
	changes := make([]ports.Change, len(rows))
	for i, r := range rows {
		changes[i] = r.c
		changes[i].Pos = domain.Advance(after, target, r.pos.seq, r.pos.id)
	}
	for len(changes) > 0 {
		if err := ctx.Err(); err != nil {
			return after, err
		}
		n := min(batchSize, len(changes))
		err := h.HandleChanges(changes[:n])
		last := changes[n-1].Pos
		// A handler has the batch only for its call (ports.ChangeHandler),
		// as a real feed fills the same slice again: one that kept it, or a
		// pointer into it, finds it spoilt.
		for i := range changes[:n] {
			changes[i] = spoiltChange
		}
		if err != nil {
			return after, err
		}
		after = last
		changes = changes[n:]
	}
	return target, nil
}

// DeparturesExact implements ports.ChangeFeed: true unless
// SetDeparturesInexact said otherwise.
func (f *Feed) DeparturesExact() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.inexact
}

// SetDeparturesInexact makes DeparturesExact report false, as SQLite's
// store does.
func (f *Feed) SetDeparturesInexact() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inexact = true
}

// Departed implements ports.ChangeFeed.
func (f *Feed) Departed(_ context.Context, after domain.ChangePos, teams []string) ([]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var ids []int64
	for _, d := range f.left {
		if !d.pos.coveredBy(after) && slices.Contains(teams, d.team) && !slices.Contains(ids, d.pos.id) {
			ids = append(ids, d.pos.id)
		}
	}
	return ids, nil
}

// ChangedSince implements ports.ChangeFeed.
func (f *Feed) ChangedSince(ctx context.Context, after domain.ChangePos, fn func(id int64, team string, removed bool) error) error {
	f.mu.Lock()
	if f.err != nil {
		f.mu.Unlock()
		return f.err
	}
	type changed struct {
		id      int64
		team    string
		removed bool
	}
	var out []changed
	for id, e := range f.state {
		if !e.pos.coveredBy(after) {
			out = append(out, changed{id, e.ticket.Team, e.removed})
		}
	}
	f.mu.Unlock()
	for _, c := range out {
		team := c.team
		if c.removed {
			team = ""
		}
		if err := fn(c.id, team, c.removed); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Horizon implements ports.ChangeFeed.
func (f *Feed) Horizon(context.Context) (domain.ChangePos, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return domain.ChangePos{}, f.err
	}
	return f.snapshotLocked(), nil
}

// Frontier implements ports.ChangeFeed: past every transaction begun.
func (f *Feed) Frontier(context.Context) (domain.ChangePos, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return domain.ChangePos{}, f.err
	}
	return domain.ChangePos{Xmax: f.seq + 1}, nil
}

// Identity implements ports.ChangeFeed: 1 unless SetIdentity changed it.
func (f *Feed) Identity(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	if f.id == 0 {
		return 1, nil
	}
	return f.id, nil
}

// SetIdentity makes Identity return id (0: the default, 1): the feed now
// stands for another database, as after a restore into another cluster.
func (f *Feed) SetIdentity(id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.id = id
}

// ResumableAfter implements ports.ChangeFeed.
func (f *Feed) ResumableAfter(context.Context) (domain.ChangePos, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prunedTo, nil
}

// PruneRemovals implements ports.ChangeFeed.
func (f *Feed) PruneRemovals(ctx context.Context, cutoff time.Time, readTo domain.ChangePos) (int64, error) {
	if err := f.waitHung(ctx); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// As on PostgreSQL, a prune takes up to what has committed and the
	// reader has read; a removal's time is its commit's.
	upTo := domain.Meet(f.snapshotLocked(), readTo)
	var last rowPos // the last change that went, if any
	var n int64
	for id, at := range f.removed {
		if at.Before(cutoff) && f.state[id].pos.coveredBy(upTo) {
			if e := f.state[id].pos; e.compare(last) > 0 {
				last = e
			}
			delete(f.state, id)
			delete(f.removed, id)
			n++
		}
	}
	f.left = slices.DeleteFunc(f.left, func(d departure) bool {
		if d.at.Before(cutoff) && d.pos.coveredBy(upTo) {
			if d.pos.compare(last) > 0 {
				last = d.pos
			}
			return true
		}
		return false
	})
	if last.seq != 0 {
		f.prunedTo = domain.Join(f.prunedTo, domain.TookUpTo(upTo, last.seq, last.id))
	}
	return n, nil
}

// SetErr makes every read fail with err (nil: succeed again), as a
// database that went away would.
func (f *Feed) SetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// SetBatchDelay makes StreamTickets sleep d before each batch: a slow
// database, for snapshots that take a while.
func (f *Feed) SetBatchDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Hang makes every read, prune and OldestWriter wait, as a database whose
// connection stays open but never answers would (a network that stopped
// forwarding, a lock the read waits on), until the returned release is
// called or the call's context ends. Release is idempotent.
func (f *Feed) Hang() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.hung = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			if f.hung == ch {
				f.hung = nil
			}
			f.mu.Unlock()
			close(ch)
		})
	}
}

// waitHung waits while the feed is hung (Hang).
func (f *Feed) waitHung(ctx context.Context) error {
	f.mu.Lock()
	ch := f.hung
	f.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetLockHolder sets what LockHolder reports.
func (f *Feed) SetLockHolder(w ports.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holder = w
}

// LockHolder implements ports.ChangeFeed: it returns what SetLockHolder
// set, even while the feed hangs (Hang), as PostgreSQL answers who holds
// the lock a read waits on.
func (f *Feed) LockHolder(context.Context) (ports.Writer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holder, nil
}

// SetWriter sets what OldestWriter reports.
func (f *Feed) SetWriter(w ports.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writer = w
}

// OldestWriter implements ports.ChangeFeed: it returns what SetWriter set.
func (f *Feed) OldestWriter(ctx context.Context) (ports.Writer, error) {
	if err := f.waitHung(ctx); err != nil {
		return ports.Writer{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writer, nil
}
