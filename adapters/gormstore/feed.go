package gormstore

import (
	"cmp"
	"context"
	"fmt"
	"sync"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

var _ ports.ChangeFeed = (*Store)(nil)

// checkHistoryKept fails with ports.ErrHistoryPruned unless a reader at
// from has had every change kept covers: the changes whose removals or
// departures the retention may have pruned (engine.historyKept). A read
// must make this check in the snapshot of each page it reads, before it
// hands the page over: a prune that ran before the page's snapshot, by
// another replica ahead of this reader, may have taken what the page would
// have returned.
func checkHistoryKept(from, kept domain.ChangePos) error {
	if kept.IsZero() || from.Includes(kept) {
		return nil
	}
	return fmt.Errorf("%w: a read from %s, the history kept from %s", ports.ErrHistoryPruned, from, kept)
}

// prunedBelow is what a prune by the floor that SQLite, and replicas of
// releases before migration 00013, record may have taken: the
// transactions below prunedBefore but those open (ascending), which no
// prune can have seen.
func prunedBelow(prunedBefore int64, open []uint64) domain.ChangePos {
	if prunedBefore <= 0 {
		return domain.ChangePos{}
	}
	return domain.ChangePos{Xmax: uint64(prunedBefore), Pending: open}
}

// changePage is one page of the feed: ticket rows and removals, each in
// (transaction, id) order. Each change's Pos holds only its key — Seq and
// ID, the transaction and the ticket — until the engine's read sets the
// position it reaches.
type changePage struct {
	changed []ports.Change
	removed []ports.Change
	horizon uint64
	// changedRows counts the ticket rows read, skipped ones included, and
	// changedLast is the key of the last: a page whose rows were all
	// skipped still moves the read past them.
	changedRows int
	changedLast rowKey
}

// rowKey orders the changes of a read: by transaction, then ticket id.
type rowKey struct {
	seq uint64
	id  int64
}

// keyOf is the key a page left in a change's Pos.
func keyOf(c *ports.Change) rowKey { return rowKey{c.Pos.Seq, c.Pos.ID} }

func (k rowKey) compare(o rowKey) int {
	if c := cmp.Compare(k.seq, o.seq); c != 0 {
		return c
	}
	return cmp.Compare(k.id, o.id)
}

// reset empties the page for the next page's rows, clearing the changes
// the last one held so that a page kept for reuse keeps no ticket alive.
func (p *changePage) reset() {
	clear(p.changed)
	clear(p.removed)
	p.changed, p.removed = p.changed[:0], p.removed[:0]
	p.changedRows, p.changedLast = 0, rowKey{}
}

// readBuffers are what one read of the feed fills, page by page: the page
// and the batch merged from it. They are kept for the next read: a hub
// reads up to 50 times a second while writers are busy, and growing
// both afresh each time was most of the garbage of its reads. Nothing
// outlives the read: a handler has the batch only for its call
// (ports.ChangeHandler).
type readBuffers struct {
	page   changePage
	merged []ports.Change
}

var readBufferPool = sync.Pool{New: func() any { return new(readBuffers) }}

// takeReadBuffers returns buffers for one read; release them after it.
func takeReadBuffers() *readBuffers { return readBufferPool.Get().(*readBuffers) }

// release clears what the read left in b and returns b for another read.
func (b *readBuffers) release() {
	b.page.reset()
	clear(b.merged)
	b.merged = b.merged[:0]
	readBufferPool.Put(b)
}

// skipChanged records that the ticket row with key k was read and skipped.
func (p *changePage) skipChanged(k rowKey) {
	p.changed[len(p.changed)-1] = ports.Change{} // kept by no reuse of the page
	p.changed = p.changed[:len(p.changed)-1]
	p.changedLast = k
}

// readChanged records that the ticket row last appended to changed was read.
func (p *changePage) readChanged() {
	p.changedLast = keyOf(&p.changed[len(p.changed)-1])
}

// ReadChanges implements ports.ChangeFeed.
func (s *Store) ReadChanges(ctx context.Context, after, until domain.ChangePos, batchSize int, h ports.ChangeHandler) (domain.ChangePos, error) {
	if batchSize <= 0 {
		batchSize = ports.DefaultBatchSize
	}
	reached, err := s.eng.readChanges(ctx, after, until, batchSize, h)
	if err != nil {
		return after, fmt.Errorf("read changes: %w", err)
	}
	return reached, nil
}

// readFailed is the error of a page read that failed: the context's when it
// ended, else the database's, marked when the connection was lost.
func readFailed(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return unavailable(err)
}

// pageBound returns, for a page of full lists, the key up to which both
// lists are complete: a full list may continue past the other's last row.
func pageBound(page *changePage, batchSize int) (bound rowKey, full bool) {
	if page.changedRows == batchSize {
		bound, full = page.changedLast, true
	}
	if l := page.removed; len(l) == batchSize {
		if last := keyOf(&l[len(l)-1]); !full || last.compare(bound) < 0 {
			bound = last
		}
		full = true
	}
	// Each list holds at most batchSize rows, but both together may hold
	// more up to the bound: the batch ends at the batchSize-th, and the
	// next page reads on from there.
	if k, ok := batchEnd(page.changed, page.removed, batchSize); ok && (!full || k.compare(bound) < 0) {
		bound, full = k, true
	}
	return bound, full
}

// batchEnd returns the key of the batchSize-th change of both lists in key
// order, when they hold more than batchSize.
func batchEnd(a, b []ports.Change, batchSize int) (rowKey, bool) {
	if len(a)+len(b) <= batchSize {
		return rowKey{}, false
	}
	i, j := 0, 0
	var k rowKey
	for range batchSize {
		if aFirst(a, b, i, j) {
			k = keyOf(&a[i])
			i++
		} else {
			k = keyOf(&b[j])
			j++
		}
	}
	return k, true
}

// handOver merges page's lists — up to bound, when full — into merged,
// reused from the page before, gives each change its position and hands
// them to h. It returns merged for the next page, and the changes handed
// over (none: an empty slice).
func handOver(h ports.ChangeHandler, page *changePage, merged []ports.Change, bound rowKey, full bool, position func(rowKey) domain.ChangePos) ([]ports.Change, error) {
	if merged == nil && len(page.changed)+len(page.removed) > 0 {
		merged = make([]ports.Change, 0, len(page.changed)+len(page.removed)) // the idle poll allocates none
	}
	clear(merged) // what the page before handed over
	merged = mergeChanges(merged[:0], page.changed, page.removed, bound, full)
	if len(merged) == 0 {
		return merged, nil
	}
	for i := range merged {
		merged[i].Pos = position(keyOf(&merged[i]))
	}
	return merged, h.HandleChanges(merged)
}

// aFirst reports whether, merging a from i and b from j (not both done)
// in key order, a's change comes next.
func aFirst(a, b []ports.Change, i, j int) bool {
	return j == len(b) || (i < len(a) && keyOf(&a[i]).compare(keyOf(&b[j])) < 0)
}

// mergeChanges appends the changes of both lists in key order, only those
// at or before bound when bounded.
func mergeChanges(dst, a, b []ports.Change, bound rowKey, bounded bool) []ports.Change {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c ports.Change
		if aFirst(a, b, i, j) {
			c = a[i]
			i++
		} else {
			c = b[j]
			j++
		}
		if bounded && keyOf(&c).compare(bound) > 0 {
			break
		}
		dst = append(dst, c)
	}
	return dst
}

// rowScanner is what pgx.Rows and *sql.Rows share.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanRemovals reads removal rows (change_pos, id) into page.
func scanRemovals(rows rowScanner, page *changePage) error {
	for rows.Next() {
		var pos, id int64
		if err := rows.Scan(&pos, &id); err != nil {
			return fmt.Errorf("scan removal: %w", err)
		}
		page.removed = append(page.removed, ports.Change{Pos: domain.ChangePos{Seq: uint64(pos), ID: id}, Removed: true, Ticket: domain.Ticket{ID: id}}) // the key only
	}
	return rows.Err()
}

// Horizon implements ports.ChangeFeed.
func (s *Store) Horizon(ctx context.Context) (domain.ChangePos, error) {
	h, err := s.eng.horizon(ctx)
	if err != nil {
		return domain.ChangePos{}, fmt.Errorf("change feed horizon: %w", unavailable(err))
	}
	return h, nil
}

// Frontier implements ports.ChangeFeed: every transaction a query made
// before it could see is below it.
func (s *Store) Frontier(ctx context.Context) (domain.ChangePos, error) {
	return s.eng.frontier(ctx)
}

// DeparturesExact implements ports.ChangeFeed: on PostgreSQL a departure
// from a team the ticket had only inside its transaction is not recorded
// (migration 00006's births); SQLite's triggers record one for every team
// change, not knowing where a transaction began.
func (s *Store) DeparturesExact() bool { return s.Dialect() == Postgres }

// Departed implements ports.ChangeFeed.
func (s *Store) Departed(ctx context.Context, after domain.ChangePos, teams []string) ([]int64, error) {
	if len(teams) == 0 {
		return nil, nil
	}
	b := &sqlBuilder{style: s.eng.style()}
	b.WriteString("SELECT DISTINCT id FROM ticket_departures WHERE change_pos >= " + b.param() + " AND NOT ")
	args := writeCovers(b, "", after, []any{floorArg(after)})
	args = b.style.in(b, "team", teams, args)
	rows, err := s.sql.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("departures: %w", unavailable(err))
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("departures: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("departures: %w", unavailable(err))
	}
	return ids, nil
}

// ResumableAfter implements ports.ChangeFeed.
func (s *Store) ResumableAfter(ctx context.Context) (domain.ChangePos, error) {
	kept, err := s.eng.historyKept(ctx)
	if err != nil {
		return domain.ChangePos{}, fmt.Errorf("change feed retention: %w", unavailable(err))
	}
	return kept, nil
}

// OldestWriter implements ports.ChangeFeed: the oldest transaction that
// holds back the change feed, if any.
func (s *Store) OldestWriter(ctx context.Context) (ports.Writer, error) {
	return s.eng.oldestWriter(ctx)
}

// LockHolder implements ports.ChangeFeed: the session at the head of the
// lock queue this server's sessions wait in, if any.
func (s *Store) LockHolder(ctx context.Context) (ports.Writer, error) {
	return s.eng.lockHolder(ctx)
}

// DeleteTicket deletes the ticket with the given id, or returns ENotFound.
func (s *Store) DeleteTicket(ctx context.Context, id int64) error {
	res, err := s.sql.ExecContext(ctx, `DELETE FROM tickets WHERE id = `+s.eng.style().param(1), id)
	if err != nil {
		return fmt.Errorf("delete ticket %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return &domain.Error{Code: domain.ENotFound, Param: "id", Message: fmt.Sprintf("no ticket %d", id)}
	}
	return nil
}
