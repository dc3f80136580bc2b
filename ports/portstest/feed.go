package portstest

import (
	"context"
	"math"
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
	mu      sync.Mutex
	seq     uint64
	state   map[int64]feedEntry
	pruned  uint64
	err     error
	writer  ports.Writer
	delay   time.Duration
	removed map[int64]time.Time
	id      uint64
	// left records every departure of a ticket from a team, in position
	// order.
	left []departure
}

// departure is a ticket leaving a team: moved elsewhere, or deleted.
type departure struct {
	pos  domain.ChangePos
	team string
	at   time.Time
}

type feedEntry struct {
	pos     domain.ChangePos
	removed bool
	ticket  domain.Ticket
}

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
		if !e.removed && (q.AsOf.IsZero() || e.pos.Compare(q.AsOf) <= 0) {
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

// Put writes tickets (inserted or updated), each at a new position, and
// returns the position of the last.
func (f *Feed) Put(tickets ...domain.Ticket) domain.ChangePos {
	f.mu.Lock()
	defer f.mu.Unlock()
	var pos domain.ChangePos
	for _, t := range tickets {
		f.seq++
		t.Tags = slices.Clone(t.Tags)
		pos = domain.ChangePos{Seq: f.seq, ID: t.ID}
		if old, ok := f.state[t.ID]; ok && !old.removed && old.ticket.Team != t.Team {
			f.left = append(f.left, departure{pos: pos, team: old.ticket.Team, at: time.Now()})
		}
		f.state[t.ID] = feedEntry{pos: pos, ticket: t}
		delete(f.removed, t.ID)
	}
	return pos
}

// Remove deletes the tickets with ids, each at a new position.
func (f *Feed) Remove(ids ...int64) domain.ChangePos {
	f.mu.Lock()
	defer f.mu.Unlock()
	var pos domain.ChangePos
	for _, id := range ids {
		f.seq++
		pos = domain.ChangePos{Seq: f.seq, ID: id}
		if old, ok := f.state[id]; ok && !old.removed {
			f.left = append(f.left, departure{pos: pos, team: old.ticket.Team, at: time.Now()})
		}
		f.state[id] = feedEntry{pos: pos, removed: true, ticket: domain.Ticket{ID: id}}
		f.removed[id] = time.Now()
	}
	return pos
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

// ReadChanges implements ports.ChangeFeed.
func (f *Feed) ReadChanges(ctx context.Context, after, until domain.ChangePos, batchSize int, h ports.ChangeHandler) (domain.ChangePos, error) {
	if batchSize <= 0 {
		batchSize = ports.DefaultBatchSize
	}
	f.mu.Lock()
	if err := f.err; err != nil {
		f.mu.Unlock()
		return after, err
	}
	horizon := domain.ChangePos{Seq: f.seq + 1}
	upTo := until
	if until.IsZero() {
		upTo = domain.ChangePos{Seq: f.seq, ID: math.MaxInt64}
	}
	var changes []ports.Change
	for _, e := range f.state {
		if e.pos.Compare(after) > 0 && e.pos.Compare(upTo) <= 0 {
			t := e.ticket
			t.Tags = slices.Clone(t.Tags)
			changes = append(changes, ports.Change{Pos: e.pos, Removed: e.removed, Ticket: t, LeftTeams: f.leftTeams(after, e.pos)})
		}
	}
	f.mu.Unlock()
	slices.SortFunc(changes, func(a, b ports.Change) int { return a.Pos.Compare(b.Pos) })
	for len(changes) > 0 {
		if err := ctx.Err(); err != nil {
			return after, err
		}
		n := min(batchSize, len(changes))
		if err := h.HandleChanges(changes[:n]); err != nil {
			return after, err
		}
		after = changes[n-1].Pos
		changes = changes[n:]
	}
	if !until.IsZero() {
		return until, nil
	}
	if horizon.Compare(after) > 0 {
		return horizon, nil
	}
	return after, nil
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
		if d.pos.Compare(after) > 0 && slices.Contains(teams, d.team) && !slices.Contains(ids, d.pos.ID) {
			ids = append(ids, d.pos.ID)
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
		if e.pos.Compare(after) > 0 {
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

// leftTeams returns the teams ticket pos.ID left in (after, pos], each
// once, or nil. The caller holds f.mu.
func (f *Feed) leftTeams(after, pos domain.ChangePos) []string {
	var teams []string
	for _, d := range f.left {
		if d.pos.ID == pos.ID && d.pos.Compare(after) > 0 && d.pos.Compare(pos) <= 0 && !slices.Contains(teams, d.team) {
			teams = append(teams, d.team)
		}
	}
	return teams
}

// Horizon implements ports.ChangeFeed.
func (f *Feed) Horizon(context.Context) (domain.ChangePos, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return domain.ChangePos{}, f.err
	}
	return domain.ChangePos{Seq: f.seq + 1}, nil
}

// Frontier implements ports.ChangeFeed: with no transactions, the horizon.
func (f *Feed) Frontier(ctx context.Context) (domain.ChangePos, error) {
	return f.Horizon(ctx)
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
	if f.pruned == 0 {
		return domain.ChangePos{}, nil
	}
	return domain.ChangePos{Seq: f.pruned - 1, ID: math.MaxInt64}, nil
}

// PruneRemovals implements ports.ChangeFeed.
func (f *Feed) PruneRemovals(_ context.Context, cutoff time.Time, readTo domain.ChangePos) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for id, at := range f.removed {
		if at.Before(cutoff) && f.state[id].pos.Compare(readTo) <= 0 {
			f.pruned = max(f.pruned, f.state[id].pos.Seq+1)
			delete(f.state, id)
			delete(f.removed, id)
			n++
		}
	}
	f.left = slices.DeleteFunc(f.left, func(d departure) bool {
		if d.at.Before(cutoff) && d.pos.Compare(readTo) <= 0 {
			f.pruned = max(f.pruned, d.pos.Seq+1)
			return true
		}
		return false
	})
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

// SetWriter sets what OldestWriter reports.
func (f *Feed) SetWriter(w ports.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writer = w
}

// OldestWriter implements ports.ChangeFeed: it returns what SetWriter set.
func (f *Feed) OldestWriter(context.Context) (ports.Writer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writer, nil
}
