package gormstore

import (
	"context"
	"sync"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// What the store knows of the operator's sort indexes while it serves:
// which exist (listed every sortIndexListAge), whether a sorted read takes
// the keyset union, and which orders without an index it has named.

// sortIndexListAge is how long the store trusts its list of the
// operator's sort indexes (sortIndexSet): an index another process builds
// or drops is seen within it.
const sortIndexListAge = 30 * time.Second

// maxUnindexedSaid is how many orders without an index the log names, at
// most, in a process's life: clients choose the orders.
const maxUnindexedSaid = 64

// sortIndexSet is the names of the operator's sort indexes, listed at most
// every sortIndexListAge, and the orders without one the log has named.
type sortIndexSet struct {
	mu      sync.Mutex
	names   map[string]bool // name: ready
	listed  time.Time       // zero: list again
	listing chan struct{}   // closed when the listing in flight ends; nil: none
	gen     int             // moved on by forgetSortIndexes
	said    map[string]bool
}

// keysetUnion reports whether the batches of sort after a key are read as
// a union of index ranges (writeKeysetUnion): on PostgreSQL, when its keys
// go both ways and the operator built its index. (SQLite's planner reads
// such a union's ranges by rowid or sorts them whole; its single keyset
// reads the index well enough: 3 ms for a page 20,000 rows deep of
// 100,000.) An order that has no index of its own, the schema's or the
// operator's, is named in the log once, with the command that builds one.
func (s *Store) keysetUnion(ctx context.Context, sort domain.Sort) bool {
	if len(sort) == 0 {
		return false
	}
	indexed := s.hasSortIndex(ctx, sort)
	if !indexed && !schemaServes(sort) {
		s.sayUnindexed(sort)
	}
	return indexed && s.Dialect() == Postgres && !keysetAscending(s.eng.style(), sort)
}

// hasSortIndex reports whether the operator's index of sort is there and
// ready, as last listed. When the list is older than sortIndexListAge one
// caller starts listing them again and every caller waits for it — for as
// long as its own ctx allows, then it takes the last list (none at first):
// a sorted read is right either way, only slower.
func (s *Store) hasSortIndex(ctx context.Context, sort domain.Sort) bool {
	set := &s.sortIdx
	set.mu.Lock()
	if set.listing == nil && time.Since(set.listed) >= sortIndexListAge {
		set.listing = make(chan struct{})
		go s.listSortIndexes(context.WithoutCancel(ctx), set.listing, set.gen)
	}
	wait := set.listing
	set.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
		}
	}
	set.mu.Lock()
	defer set.mu.Unlock()
	return set.names[SortIndexName(sort)]
}

// sortIndexListTimeout bounds one listing of the sort indexes; one that
// fails is tried again after sortIndexListRetry.
const (
	sortIndexListTimeout = 10 * time.Second
	sortIndexListRetry   = 5 * time.Second
)

// listSortIndexes lists the sort indexes into the set, then closes done.
// A listing that started before forgetSortIndexes keeps what it found but
// is not taken as fresh.
func (s *Store) listSortIndexes(ctx context.Context, done chan struct{}, gen int) {
	ctx, cancel := context.WithTimeout(ctx, sortIndexListTimeout)
	defer cancel()
	list, err := s.SortIndexes(ctx)
	set := &s.sortIdx
	set.mu.Lock()
	defer set.mu.Unlock()
	defer close(done)
	set.listing = nil
	if err != nil {
		s.log.Warn("listing the sort indexes", "err", err)
		set.listed = time.Now().Add(sortIndexListRetry - sortIndexListAge)
		return
	}
	set.names = make(map[string]bool, len(list))
	for _, ix := range list {
		set.names[ix.Name] = ix.Valid
	}
	if gen == set.gen {
		set.listed = time.Now()
	}
}

// sayUnindexed logs, once per order, that sort has no index.
func (s *Store) sayUnindexed(sort domain.Sort) {
	set := &s.sortIdx
	text := sort.String()
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.said[text] || len(set.said) >= maxUnindexedSaid {
		return
	}
	if set.said == nil {
		set.said = map[string]bool{}
	}
	set.said[text] = true
	s.log.Info("a sort without an index: each page and window refill of it sorts its filter's tickets; ticketstream migrate --sort-index=ORDER builds one (docs/operations.md)", "sort", text)
}

// forgetSortIndexes makes the next hasSortIndex list the indexes again.
func (s *Store) forgetSortIndexes() {
	s.sortIdx.mu.Lock()
	s.sortIdx.listed = time.Time{}
	s.sortIdx.gen++
	s.sortIdx.mu.Unlock()
}
