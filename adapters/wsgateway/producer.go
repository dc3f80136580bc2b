// The subscription producer: subscribe replaces the current subscription
// and starts a goroutine (runSubscription) that joins the hub, checks a
// resume cursor, queues the catch-up and streams the snapshot through the
// core, then returns; the hub queue it opened lives on in conn.live until
// the next subscription or the socket's close (stopStream).
//
// Who guards what. subscribe and stopStream run on the reader goroutine
// only, which owns sub, streamCancel and streamDone; a subscription
// goroutine ends (streamDone) before the next one starts. liveMu guards
// conn.live, set here and closed by stopStream. Everything a producer hands
// the writer goes through the queue (queue.go), never through shared fields.

package wsgateway

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// errSlowClient means a client kept its queue full for the write timeout.
var errSlowClient = errors.New("client too slow")

// subscribe replaces the current subscription with one for sub. Messages
// of the replaced subscription still queued are dropped by the writer.
func (c *conn) subscribe(sub Subscription) {
	c.stopStream()
	c.sub++
	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	c.streamCancel, c.streamDone = cancel, done
	n := c.sub
	c.claim = nil
	if sub.Claims {
		c.claim = newClaimBox(sub.Held)
	}
	box := c.claim
	go func() {
		defer close(done)
		if box != nil {
			defer box.discard() // unless taken: the reader reads the rest and drops it
		}
		c.runSubscription(ctx, n, sub, box)
	}()
}

func (c *conn) stopStream() {
	if c.streamCancel != nil {
		c.streamCancel()
		<-c.streamDone
		c.streamCancel = nil
	}
	c.liveMu.Lock()
	defer c.liveMu.Unlock()
	if c.live != nil {
		c.live.Close()
		c.live = nil
	}
}

// runSubscription starts one subscription: it joins the hub, which fixes
// the watermark between snapshot and live; on a resume it first sends the
// changes the client missed; then the snapshot (or its rest) streams while
// live changes are written between its chunks. It returns when the snapshot
// is queued; the hub queue lives on until the subscription is replaced or
// the socket closes (stopStream), so an idle dashboard keeps no goroutine
// of its own beyond its reader and writer.
func (c *conn) runSubscription(ctx context.Context, n int, sub Subscription, box *claimBox) {
	q := sub.Query
	if q.Window > 0 {
		c.runWindow(ctx, n, q)
		return
	}
	filter := domain.FilterHash(q)
	// A cursor that cannot be resumed starts afresh, skipping nothing: its
	// position may lie past this replica's, and the fresh snapshot leaves
	// those changes to live delivery.
	resync := sub.Refused
	var skip domain.ChangePos
	if r := sub.Resume; r != nil {
		var err error
		if resync, err = c.resumable(ctx, r, filter); err != nil {
			// Not a verdict on the cursor: the database could not be
			// asked. The client comes back with the same cursor (1013).
			c.fail(n, err)
			return
		}
		if resync == "" && len(q.Sort) > 0 && !r.SnapshotDone {
			// A sorted snapshot's position is its last row's key, which
			// a live cursor does not keep: an unfinished one starts over.
			resync = "a sorted snapshot resumes only once it is complete"
		}
		if resync == "" {
			skip = r.Live
		}
	}
	if box != nil && (resync != "" || sub.Resume == nil || !sub.Resume.HeldKnown || int64(sub.Resume.HeldCount) != int64(box.want)) {
		// No digest to check the held tickets against, or they cannot
		// match it: the reader drops them as they come, while this
		// subscription goes on. Kept, a claim of more tickets than the
		// dashboard held would cost the live memory budget for nothing.
		box.discard()
		switch {
		case resync != "" || sub.Resume == nil:
		case !sub.Resume.HeldKnown:
			c.g.log.Info("resume: the cursor carries no digest of what the dashboard holds (sealed before a read-back view's counts); reading the view back", "conn", c.id, "held", box.want)
		default:
			c.g.log.Info("resume: the client announces another number of held tickets than the cursor's dashboard held; reading the view back", "conn", c.id, "held", box.want, "cursor_held", sub.Resume.HeldCount)
		}
	}
	live, pos, ok := c.join(ctx, n, q, app.SubscribeOptions{SkipUntil: skip, Resumed: sub.Resume != nil && resync == "", Scope: c.scope, After: skip, Digester: c.g.digester})
	if !ok {
		return
	}

	cluster, err := c.g.hub.Identity(ctx)
	if err != nil {
		c.fail(n, err)
		return
	}
	fresh := domain.LiveCursor{Filter: filter, Cluster: cluster, Watermark: pos, Snapshot: q.After, Live: pos, Start: q.After}
	st := &subState{sub: n, live: live, cursor: sealedCursor{LiveCursor: fresh, sealer: c.g.cursors, held: live}}
	if r := sub.Resume; r != nil && resync == "" {
		st.cursor.LiveCursor = *r
		// The dashboard holds tickets this socket never sent: the core
		// counts them from the database once, so that later changes move
		// the counts from the right buckets and removals reach it.
		st.resumedView = true
		claimed := false
		if box != nil && r.HeldKnown && int64(r.HeldCount) == int64(box.want) {
			var err error
			if claimed, err = c.resumeFromClaim(ctx, box, *r, live); err != nil {
				c.fail(n, err)
				return
			}
		}
		var err error
		how := ResumeReadBack
		if claimed {
			how = ResumeClaimed
			err = c.g.streamer.RestoreClaimed(ctx, live)
		} else {
			err = c.g.streamer.RestoreView(ctx, q, *r, live)
		}
		if errors.Is(err, app.ErrCannotRestore) {
			// Nothing was queued yet: start this subscription afresh.
			c.dropLive(live)
			sub.Resume, sub.Refused = nil, resyncDeparturesInexact
			if errors.Is(err, app.ErrDeparturesPruned) {
				sub.Refused = resyncDeparturesPruned
			}
			c.runSubscription(ctx, n, sub, nil)
			return
		}
		if err != nil {
			c.fail(n, err)
			return
		}
		c.g.obs.Resumed(how)
	} else if sub.Resume != nil || sub.Refused != "" {
		c.g.obs.Resumed(ResumeRefused)
	}
	if err := c.enqueue(ctx, outMsg{kind: msgBegin, sub: n, more: &outMore{state: st}}); err != nil {
		c.fail(n, err)
		return
	}
	if resync != "" {
		c.g.log.Info("resume refused, resyncing", "conn", c.id, "sub", n, "reason", resync)
		// Its cursor is the fresh subscription's start, so that a client
		// cut off before the next message does not resume from the refused one.
		if err := c.enqueue(ctx, outMsg{kind: msgRaw, sub: n, more: &outMore{raw: resyncMessage(n, resync, st.cursor)}}); err != nil {
			c.fail(n, err)
			return
		}
	}
	if st.resumedView {
		// First, at the position the dashboard stands: a catch-up message
		// moves its cursor past the departure, and a dashboard that hung
		// up then would resume beyond it, told of nothing.
		if ds := c.g.hub.ResumeRemovals(live, st.cursor.Live); len(ds) > 0 {
			if err := c.enqueueDeliveries(ctx, n, ds); err != nil {
				c.fail(n, err)
				return
			}
		}
	}
	if err := c.catchUp(ctx, n, q, live, st.cursor.Live, pos); err != nil {
		c.fail(n, err)
		return
	}
	if err := c.enqueue(ctx, outMsg{kind: msgLive, sub: n}); err != nil {
		c.fail(n, err)
		return
	}
	if !st.cursor.SnapshotDone {
		snap := q
		snap.After, snap.AsOf = st.cursor.Snapshot, st.cursor.Watermark
		var sum app.Summary
		var err error
		// A snapshot with a limit reads only what the limit leaves; one
		// whose limit was read before the dashboard hung up needs only its
		// end.
		if limited := snap.Limit > 0; !limited || int64(st.cursor.Read) < int64(snap.Limit) {
			if limited {
				snap.Limit -= int(st.cursor.Read)
			}
			sum, err = c.g.streamer.Stream(ctx, snap, ports.Comma, &socketSink{c: c, sub: n})
		}
		if err == nil {
			err = c.enqueue(ctx, outMsg{kind: msgEnd, sub: n, more: &outMore{chunks: sum.Chunks}})
		}
		if err != nil {
			c.fail(n, err)
			return
		}
	}
}

// Why a team-scoped resume read back from the database starts afresh
// (app.ErrCannotRestore).
const (
	resyncDeparturesPruned  = "the history of tickets leaving your teams since your snapshot is no longer kept (older than the change retention); say what you hold (held) to resume across it"
	resyncDeparturesInexact = "tickets left your teams while you were away, and this database cannot tell which you could have seen; say what you hold (held) to resume across it"
)

// dropLive closes live, a subscription nothing was queued for, and stops it
// being the socket's.
func (c *conn) dropLive(live *app.Subscription) {
	c.liveMu.Lock()
	defer c.liveMu.Unlock()
	live.Close()
	if c.live == live {
		c.live = nil
	}
}

// join subscribes to the hub and makes the subscription the socket's live
// one, whose changes kick the writer; it reports false, having failed the
// subscription, when the hub refused.
func (c *conn) join(ctx context.Context, n int, q domain.Query, opts app.SubscribeOptions) (*app.Subscription, domain.ChangePos, bool) {
	live, pos, err := c.g.hub.Subscribe(ctx, q, opts)
	if err != nil {
		if ctx.Err() == nil {
			c.fail(n, err)
		}
		return nil, domain.ChangePos{}, false
	}
	live.SetNotify(c.kick)
	c.liveMu.Lock()
	c.live = live
	c.liveMu.Unlock()
	return live, pos, true
}

// runWindow starts a live window (app's window.go): the hub reads its rows
// and keeps them; the writer sends its operations as they come. A window
// has no snapshot, catch-up or cursor: it always starts afresh.
func (c *conn) runWindow(ctx context.Context, n int, q domain.Query) {
	live, _, ok := c.join(ctx, n, q, app.SubscribeOptions{Scope: c.scope, Source: c.g.streamer.Source()})
	if !ok {
		return
	}
	st := &subState{sub: n, live: live, cursor: sealedCursor{sealer: c.g.cursors}}
	if err := c.enqueue(ctx, outMsg{kind: msgBegin, sub: n, more: &outMore{state: st}}); err != nil {
		c.fail(n, err)
		return
	}
	if err := c.enqueue(ctx, outMsg{kind: msgLive, sub: n}); err != nil {
		c.fail(n, err)
	}
}

// resumable checks a resume cursor against this subscription and the
// database: its filter, its database, its positions and the feed's
// retention (see app.Hub.CheckResume). It returns why the client must
// resync, or "" — or an error when the database could not be asked.
func (c *conn) resumable(ctx context.Context, r *domain.LiveCursor, filter uint32) (string, error) {
	if r.Filter != filter {
		return "the cursor belongs to a subscription with another filter", nil
	}
	reason, err := c.g.hub.CheckResume(ctx, *r)
	if err != nil {
		return "", fmt.Errorf("check the resume cursor: %w", err)
	}
	return reason, nil
}

// catchUp queues the changes in (after, until] for the writer, before any
// live change: what a resuming client missed. Only a resumed subscription,
// whose view is restored, has any: live knows which tickets its dashboard
// holds, and expects those the catch-up brings until the writer applies
// them.
func (c *conn) catchUp(ctx context.Context, n int, q domain.Query, live *app.Subscription, after, until domain.ChangePos) error {
	defer live.CaughtUp()
	return c.g.hub.CatchUp(ctx, q, after, until, live.Holds, func(ds []app.Delivery) error {
		ds = live.Expect(ds)
		if len(ds) == 0 {
			return nil
		}
		return c.enqueueDeliveries(ctx, n, slices.Clone(ds))
	})
}

// enqueueDeliveries queues ds for the writer in messages of at most
// catchUpPerMessage changes; it owns ds and releases what it cannot queue.
func (c *conn) enqueueDeliveries(ctx context.Context, n int, ds []app.Delivery) error {
	for len(ds) > 0 {
		k := min(len(ds), catchUpPerMessage)
		m := outMsg{kind: msgChanges, sub: n, more: &outMore{deliveries: ds[:k:k]}}
		ds = ds[k:]
		if err := c.enqueue(ctx, m); err != nil {
			for i := range ds {
				ds[i].Release()
			}
			return err
		}
	}
	return nil
}

// reasonMemoryBudget is the close reason of a socket refused for the
// server's memory budget (1013): the page shows it and retries later.
const reasonMemoryBudget = "server busy: its memory for live views is spent; try again later"

// reasonHistoryPruned is the close reason (1013) of a socket whose
// subscription needs change history the retention has pruned
// (ports.ErrHistoryPruned): the client reconnects with its cursor, which
// the server then refuses with resync and a fresh snapshot.
const reasonHistoryPruned = "change history pruned before this server read it: reconnect with your last cursor to resync"

// catchUpPerMessage bounds the changes in one catch-up message.
const catchUpPerMessage = 200

// fail ends a subscription that could not go on: the socket is closed with
// the code that tells the client what to do.
func (c *conn) fail(n int, err error) {
	switch {
	case c.ctx.Err() != nil:
	case errors.Is(err, errSlowClient):
		c.g.obs.SlowClosed()
		c.closeWith(websocket.StatusTryAgainLater, "client too slow: reconnect with the cursor of the last message received")
	case errors.Is(err, context.Canceled):
	case errors.Is(err, errClaimLate):
		c.closeWith(websocket.StatusTryAgainLater, "held: "+err.Error())
	case errors.Is(err, app.ErrMemoryBudget):
		c.closeWith(websocket.StatusTryAgainLater, reasonMemoryBudget)
	case errors.Is(err, ports.ErrHistoryPruned):
		c.closeWith(websocket.StatusTryAgainLater, reasonHistoryPruned)
	default:
		c.g.log.Error("subscription failed", "conn", c.id, "sub", n, "err", err)
		code, reason := websocket.StatusInternalError, "internal error"
		if dc := domain.ErrorCode(err); dc == domain.EUnavailable || errors.Is(err, context.DeadlineExceeded) {
			code, reason = websocket.StatusTryAgainLater, "database unavailable or busy: reconnect with the cursor of the last message received"
		}
		c.closeWith(code, reason)
	}
}

// socketSink is the ports.ChunkSink of one subscription: it queues chunks
// for the writer.
type socketSink struct {
	c   *conn
	sub int
}

// WriteChunk implements ports.ChunkSink. The chunk goes to the writer's
// queue; if the queue stays full for the write timeout the chunk is released
// and errSlowClient returned.
func (s *socketSink) WriteChunk(ctx context.Context, ch ports.Chunk) error {
	return s.c.enqueue(ctx, outMsg{kind: msgChunk, chunk: ch, sub: s.sub})
}
