// The hub's watches, beside its feed loop: watchStall measures how long
// the feed has not answered and warns of it; watchWriters asks the
// database for the oldest writing transaction and names one left open,
// and, while the feed is stalled, names the session holding the lock its
// read waits on. They are apart so that neither can stop the other: the
// stall is measured from the time of the last read alone, and so keeps
// counting while the database hangs every call, the watchers' queries
// among them.

package app

import (
	"context"
	"time"

	"github.com/ticketstream/ticketstream/ports"
)

// watchInterval is how often the watches look: half the stall warning,
// and at most 5 s apart.
func (h *Hub) watchInterval() time.Duration { return min(h.cfg.StallWarning/2, 5*time.Second) }

// askTimeout bounds one of watchWriters' queries: a database that does not
// answer is the stall watch's to report.
func (h *Hub) askTimeout() time.Duration { return max(h.watchInterval(), 2*time.Second) }

// watchStall keeps HubStats.Stalled: how long the feed has not answered a
// read, once that passes the stall warning, else 0. It warns once when a
// stall begins and tells when it ends. It makes no call that can block.
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
			h.log.Warn("the change feed has not answered: no change reaches any dashboard until it does (the database is away or slow, or the read waits on a lock: its holder, if any, is named in a warning of its own)",
				"for", stalled.Round(time.Second).String(), "feed_read_timeout", h.cfg.ReadTimeout.String())
		case stalled == 0 && !began.IsZero():
			h.log.Info("the change feed answers again", "stalled_for", h.LastRead().Sub(began).Round(time.Second).String())
			began = time.Time{}
		}
	}
}

// watchWriters, every watch interval, asks for the oldest writing
// transaction and warns once of each open longer than the stall warning;
// while the feed is stalled it also asks who holds the lock this server's
// sessions wait on, and warns once of each. Each ask is bounded.
func (h *Hub) watchWriters(ctx context.Context) {
	tick := time.NewTicker(h.watchInterval())
	defer tick.Stop()
	warnedWriter, warnedHolder := 0, 0
	warnedUnrecorded := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		switch n := h.Stats().UnrecordedPending; {
		case n > 0 && !warnedUnrecorded:
			warnedUnrecorded = true
			h.log.Warn("more transactions are open on the database server than a cursor records: live delivery waits for none of them, but a dashboard that resumes now is sent again what it had since the oldest left out began",
				"left_out", n, "open", len(h.Position().Pending))
		case n == 0 && warnedUnrecorded:
			warnedUnrecorded = false
			h.log.Info("cursors record every open transaction again: resumes send only what a dashboard missed")
		}
		if h.Stats().Stalled > 0 {
			if w, err := h.ask(ctx, h.feed.LockHolder); err == nil && w.PID != 0 && w.PID != warnedHolder {
				warnedHolder = w.PID
				age := w.Age.Round(time.Second).String()
				if w.Age == 0 {
					age = "unknown (the server's role needs pg_read_all_stats to see it)"
				}
				h.log.Warn("the change feed's read waits on a lock another session holds: no change reaches any dashboard until that session's transaction ends",
					"pid", w.PID, "application", w.Application, "state", w.State, "age", age)
			}
		} else {
			warnedHolder = 0
		}
		w, err := h.ask(ctx, h.feed.OldestWriter)
		if err != nil {
			continue // the stall watch reports a database that does not answer
		}
		if w.Age < h.cfg.StallWarning {
			warnedWriter = 0
			continue
		}
		if warnedWriter != w.PID && w.PID != warnedHolder { // the holder's warning says what it does
			warnedWriter = w.PID
			h.log.Warn("a writing transaction has been open for long: live delivery does not wait for it (its changes go out when it commits), but it holds back PostgreSQL's vacuum, and cursors record it until it ends",
				"age", w.Age.Round(time.Second).String(), "pid", w.PID, "application", w.Application, "state", w.State)
		}
	}
}

// ask runs one of the feed's session queries within askTimeout.
func (h *Hub) ask(ctx context.Context, query func(context.Context) (ports.Writer, error)) (ports.Writer, error) {
	ctx, cancel := context.WithTimeout(ctx, h.askTimeout())
	defer cancel()
	return query(ctx)
}
