// What a subscription's dashboard holds: the view the writer keeps in step
// with what it writes (snapshot rows through HoldSnapshot, catch-up changes
// through Apply, live changes as they are taken), the counts sent from it,
// and, for a resumed dashboard, the tickets it may hold though this process
// never sent them.
//
// Who guards what. Subscription.mu guards the view and everything about it,
// as it guards the queue (subscription.go).

package app

import (
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// CountsKnown reports whether the counts describe what the dashboard
// holds: always, but for a resumed dashboard until CountsSent.
func (s *Subscription) CountsKnown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.countsHeld
}

// CountsDue reports whether a resumed dashboard's counts may now be sent
// whole: its snapshot (if any) is written, and so is the latest version of
// every ticket that changed while it was away. Send them, then call
// CountsSent.
func (s *Subscription) CountsDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.countsDueLocked()
}

func (s *Subscription) countsDueLocked() bool {
	return s.countsHeld && s.settled && s.restored && !s.closed && s.pending.Len() == 0
}

// CountsSent records that the counts went out whole: from now on messages
// carry what changes in them.
func (s *Subscription) CountsSent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.countsHeld, s.inexact = false, false
	s.pending.Reset()
	s.maybeHeld.Reset()
	s.accountLocked()
}

// unheldRemovals returns the tickets the resumed dashboard may hold that
// its restored view does not (maybeHeld): it must be told to drop them
// before anything else. It forgets them.
func (s *Subscription) unheldRemovals() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	s.maybeHeld.Each(func(id int64, _ uint32) {
		if !s.view.has(id) {
			ids = append(ids, id)
		}
	})
	s.maybeHeld.Reset()
	s.accountLocked()
	return ids
}

// Apply counts deliveries that reach the dashboard by another way than
// Take — the catch-up of a resume — as held. Call it before writing them.
func (s *Subscription) Apply(ds []Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failureLocked() != nil {
		return // the writer's next Take reports it
	}
	for i := range ds {
		s.applyLocked(&ds[i])
	}
	s.accountLocked()
}

// Expect records that ds, a resumed dashboard's catch-up, are queued for
// the writer, which will Apply them: until it does, a live change of one
// of their tickets that no longer passes the filter still reaches the
// dashboard, as a removal. It returns the deliveries to queue, ds less the
// upserts a live change dropped since the catch-up began has made stale
// (the ticket left the filter after the page was read), which it
// releases. Call it before queueing them, and CaughtUp once the catch-up
// is read.
func (s *Subscription) Expect(ds []Delivery) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failureLocked() != nil || s.closed {
		return ds // the writer's next Take reports it
	}
	kept := ds[:0]
	for i := range ds {
		if !ds[i].removal {
			if s.passed.Len() > 0 && s.passed.Has(ds[i].ID) {
				ds[i].Release() // a later live change left the filter: stale
				continue
			}
			s.incoming.Put(ds[i].ID, 0)
		}
		kept = append(kept, ds[i])
	}
	s.accountLocked()
	return kept
}

// CaughtUp records that the catch-up has been read.
func (s *Subscription) CaughtUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.caughtUp = true
	s.passed.Reset()
	s.accountLocked()
}

// applyLocked moves d's ticket in the view.
func (s *Subscription) applyLocked(d *Delivery) {
	if s.incoming.Len() > 0 {
		s.incoming.Delete(d.ID)
	}
	if s.countsHeld {
		s.pending.Delete(d.ID) // its latest version is sent
	}
	if d.removal {
		s.view.remove(d.ID)
	} else {
		s.view.put(d.ID, d.status, d.data[d.teamStart:d.teamEnd])
	}
	if !s.settled {
		s.touched.Put(d.ID, 0)
	}
}

// HoldSnapshot is called with each snapshot chunk just before it is
// written: it counts the chunk's rows as held and leaves out those of
// tickets a live change has already been taken for (the row was read before
// the change). It returns the rows to write and how many there are: the
// chunk's bytes, or, when rows were left out (leftOut), the kept rows
// appended to dst. Once s has failed (Err) it returns that error instead.
func (s *Subscription) HoldSnapshot(c ports.Chunk, dst []byte) (rows []byte, n int, leftOut bool, err error) {
	data, meta := c.Bytes(), c.Meta()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failureLocked(); err != nil {
		return nil, 0, false, err
	}
	if meta == nil {
		return data, c.Rows, false, nil
	}
	defer func() {
		s.accountLocked()
		if ferr := s.failureLocked(); ferr != nil {
			rows, n, leftOut, err = nil, 0, false, ferr
		}
	}()
	filtering := false
	kept, start := 0, 0
	for i := range meta {
		m := &meta[i]
		row := data[start:m.End]
		start = int(m.End) + 1 // past the delimiter
		if s.touched.Len() > 0 {
			if _, changed := s.touched.Get(m.ID); changed {
				if !filtering {
					filtering = true
					dst = append(dst, data[:max(0, int(row0End(meta, i)))]...)
				}
				continue
			}
		}
		s.view.put(m.ID, m.Status, data[m.TeamStart:m.TeamEnd])
		if filtering {
			if kept > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, row...)
		}
		kept++
	}
	if !filtering {
		return data, len(meta), false, nil
	}
	return dst, kept, true, nil
}

// row0End returns where the rows before row i end: the end of row i-1, or
// 0 for the first row.
func row0End(meta []ports.RowMeta, i int) int32 {
	if i == 0 {
		return 0
	}
	return meta[i-1].End
}

// Settle tells the subscription that its snapshot has been written (or
// needs none): from now on the view is everything the dashboard can hold.
func (s *Subscription) Settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settled = true
	s.touched.Reset()
	s.accountLocked()
}

// noteChanged records a ticket that changed after the resumed dashboard's
// last change (see ports.ChangeFeed.ChangedSince), once its view holds the
// filter's tickets as they are now: one the view holds waits to be sent
// before the counts, unless it is gone now (deleted, or out of the scope)
// and no removal of it waits: the view read it before it went, and its
// live change was offered before the view held it, so it joins those the
// dashboard may hold (mayHold) that the view does not, which are to be
// removed.
func (s *Subscription) noteChanged(id int64, mayHold, gone bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gone && s.view.has(id) && !s.removalQueued(id) {
		s.view.remove(id)
		mayHold = true
	}
	switch {
	case s.view.has(id):
		s.pending.Put(id, 0)
	case mayHold:
		s.maybeHeld.Put(id, 0)
	}
	s.accountLocked()
}

// removalQueued reports whether ticket id's latest waiting entry is a
// removal: the view drops the ticket when it is taken.
func (s *Subscription) removalQueued(id int64) bool {
	j, ok := s.queuedAt(id)
	return ok && s.queue[j].removal
}

// Holds reports whether the dashboard holds ticket id once the writes
// queued for it so far are done (Expect).
func (s *Subscription) Holds(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view.has(id) || s.incoming.Has(id)
}

// restoreDone records that the view is restored.
func (s *Subscription) restoreDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restored = true
}

// holdTickets counts as held the tickets of batch that held reports;
// scratch is a buffer to escape team names in, returned for reuse.
func (s *Subscription) holdTickets(batch []domain.Ticket, held func(*domain.Ticket) bool, scratch []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failureLocked(); err != nil {
		return scratch, err
	}
	for i := range batch {
		t := &batch[i]
		if !held(t) {
			continue
		}
		scratch = appendEscaped(scratch[:0], t.Team)
		s.view.put(t.ID, statusNumber(t.Status), scratch)
	}
	s.accountLocked()
	return scratch, s.failureLocked()
}

// AppendCounts appends the counts of what the dashboard holds as a JSON
// object, {"total":…,"status":{…},"team":{…}}: every count if all, else the
// ones changed since the last call.
func (s *Subscription) AppendCounts(dst []byte, all bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view.appendCounts(dst, all)
}

// CountsChanged reports whether a count changed since the last AppendCounts
// (never while the counts are not known: see CountsKnown).
func (s *Subscription) CountsChanged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.countsHeld && s.view.changed()
}

// Held returns how many tickets the dashboard holds.
func (s *Subscription) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view.total
}
