package app

import (
	"context"
	"fmt"
	"math"

	"github.com/ticketstream/ticketstream/domain"
)

// Identity returns the identity of the database whose positions the hub
// dispatches (see ports.ChangeFeed), for the cursors of its subscribers.
// It waits until the hub has started, or ctx ends.
func (h *Hub) Identity(ctx context.Context) (uint64, error) {
	for {
		h.mu.Lock()
		if h.ready {
			id := h.id
			h.mu.Unlock()
			return id, nil
		}
		wake := h.wake
		h.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, fmt.Errorf("database identity: change feed not started: %w", ctx.Err())
		}
	}
}

// The reasons CheckResume gives for refusing a cursor.
const (
	ResyncOtherDatabase = "the cursor belongs to another database (restored or failed over): its positions mean nothing here"
	ResyncOutOfRange    = "the cursor's position is out of range"
	ResyncAhead         = "the cursor's position lies beyond this database's change feed"
	ResyncTooOld        = "the cursor is older than the retained change history"
)

// CheckResume decides whether a client may resume live delivery from c,
// which it held from this or another replica: c must come from the
// database the hub reads, lie within the feed — never beyond its frontier,
// where the changes it would wait for belong to another history — and not
// before the retained history. It returns why the client must start afresh,
// or "" — or an error when the database could not be asked. Whether c
// belongs to the client's filter is the caller's to check.
//
// A refusal is always safe: the client gets a fresh snapshot. Accepting a
// foreign position instead would silently hold back every change until the
// database's positions caught up with it.
func (h *Hub) CheckResume(ctx context.Context, c domain.LiveCursor) (string, error) {
	id, err := h.Identity(ctx)
	if err != nil {
		return "", err
	}
	if c.Cluster != id {
		return ResyncOtherDatabase, nil
	}
	// Transaction numbers are 64-bit signed in both databases.
	for _, p := range [...]domain.ChangePos{c.Live, c.Watermark} {
		if p.Xmax > math.MaxInt64 {
			return ResyncOutOfRange, nil
		}
	}
	frontier, err := h.feed.Frontier(ctx)
	if err != nil {
		return "", fmt.Errorf("check the change feed's frontier: %w", err)
	}
	// Every position a server hands out was read from a snapshot of its
	// time, and transaction numbers only grow.
	if !frontier.Includes(c.Live) || !frontier.Includes(c.Watermark) {
		return ResyncAhead, nil
	}
	oldest, err := h.feed.ResumableAfter(ctx)
	if err != nil {
		return "", fmt.Errorf("check the change history: %w", err)
	}
	if !c.Live.Includes(oldest) {
		return ResyncTooOld, nil
	}
	return "", nil
}
