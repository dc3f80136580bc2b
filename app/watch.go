// The hub's watches, beside its feed loop: watchStall measures how long
// the feed has not answered and warns of it; watchWriters asks the
// database for the oldest writing transaction and names one left open.
// They are apart so that neither can stop the other: the stall is
// measured from the time of the last read alone, and so keeps counting
// while the database hangs every call, the writers' query among them.

package app

import (
	"context"
	"time"
)

// watchInterval is how often the watches look: half the stall warning,
// and at least every 5 s.
func (h *Hub) watchInterval() time.Duration { return min(h.cfg.StallWarning/2, 5*time.Second) }

// watchStall keeps HubStats.Stalled: how long the feed has not answered a
// read, once that passes the stall warning, else 0. It warns once when a
// stall begins, naming the oldest writing transaction last seen (a lock
// it holds may be what the read waits for), and tells when it ends. It
// makes no call that can block.
func (h *Hub) watchStall(ctx context.Context) {
	tick := time.NewTicker(h.watchInterval())
	defer tick.Stop()
	var began time.Time // the last read before the stall reported, zero when none
	for {
		select {
		case <-ctx.Done():
			h.stats.stalledNanos.Store(0)
			return
		case <-tick.C:
		}
		stalled := time.Duration(0)
		if last := h.LastRead(); !last.IsZero() {
			if d := time.Since(last); d >= h.cfg.StallWarning {
				stalled = d
			}
		}
		h.stats.stalledNanos.Store(int64(stalled))
		switch {
		case stalled > 0 && began.IsZero():
			began = h.LastRead()
			attrs := []any{"for", stalled.Round(time.Second).String(), "read_timeout", h.cfg.readTimeout().String()}
			if w := h.oldestWriter.Load(); w != nil && w.PID != 0 {
				attrs = append(attrs, "oldest_writer_pid", w.PID, "oldest_writer_age", w.Age.Round(time.Second).String(),
					"oldest_writer_application", w.Application)
			}
			h.log.Warn("the change feed has not answered: no change reaches any dashboard until it does (the database is away or slow, or a lock the read needs is held — the oldest writer named here may hold it)", attrs...)
		case stalled == 0 && !began.IsZero():
			h.log.Info("the change feed answers again", "stalled_for", h.LastRead().Sub(began).Round(time.Second).String())
			began = time.Time{}
		}
	}
}

// watchWriters asks the feed for the oldest writing transaction every
// watch interval, each ask bounded by it, and warns once of each one open
// longer than the stall warning.
func (h *Hub) watchWriters(ctx context.Context) {
	tick := time.NewTicker(h.watchInterval())
	defer tick.Stop()
	warned := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		askCtx, cancel := context.WithTimeout(ctx, h.watchInterval())
		w, err := h.feed.OldestWriter(askCtx)
		cancel()
		if err != nil {
			continue // the stall watch reports a database that does not answer
		}
		h.oldestWriter.Store(&w)
		if w.Age < h.cfg.StallWarning {
			warned = 0
			continue
		}
		if warned == w.PID {
			continue
		}
		warned = w.PID
		msg := "a writing transaction has been open for long: live delivery does not wait for it (its changes go out when it commits), but it holds back PostgreSQL's vacuum, and every cursor carries it until it ends"
		if h.Stats().Stalled > 0 {
			msg = "a writing transaction has been open for long while the change feed is stalled: a lock it holds may be what the feed's read waits for"
		}
		h.log.Warn(msg, "age", w.Age.Round(time.Second).String(), "pid", w.PID, "application", w.Application, "state", w.State)
	}
}
