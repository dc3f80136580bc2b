package wsgateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// errSlowClient means a client kept its queue full for the write timeout.
var errSlowClient = errors.New("client too slow")

// conn is one dashboard socket.
type conn struct {
	g      *Gateway
	ws     *websocket.Conn
	scope  domain.Scope
	filter string // the upgrade's filter, for the log (never the token)
	id     uint64
	start  time.Time

	ctx    context.Context // lives as long as the socket
	cancel context.CancelFunc

	out       chan *outMsg  // to the writer; only stream goroutines send
	closeReq  chan closeMsg // first close request wins
	closeOnce sync.Once
	closedMu  sync.Mutex
	closed    closeMsg // what closed the socket first, for the log

	sub          int // the current subscription; replaced by a subscribe message
	streamCancel context.CancelFunc
	streamDone   chan struct{}
	liveMu       sync.Mutex
	live         *app.Subscription // the current subscription's hub queue

	rows, bytes atomic.Int64
	changes     atomic.Int64
	sc          *scratch // the writer's working memory while it writes
	st          subState // the writer's view of the subscription

	// The writer runs only while there is something to write, so that an
	// idle dashboard costs one goroutine (its reader), not two.
	wmu       sync.Mutex
	wrunning  bool
	wfinished bool
	writers   sync.WaitGroup
	// writingSince is when the write in progress began (Unix ns), 0 when
	// none is: the gateway's watchdog closes a socket stuck in a write.
	writingSince atomic.Int64
}

type closeMsg struct {
	code   websocket.StatusCode
	reason string
}

// msgKind says what an outMsg carries.
type msgKind uint8

const (
	msgChunk   msgKind = iota // snapshot rows: chunk
	msgRaw                    // ready bytes: raw
	msgBegin                  // a new subscription: state replaces the writer's
	msgLive                   // catch-up done: start writing the subscription's live changes
	msgChanges                // catch-up changes: deliveries
	msgEnd                    // snapshot done: rows and chunks sent
)

// outMsg is a message for the writer. Only the writer builds the bytes that
// carry a cursor, since only it knows what has really been sent.
type outMsg struct {
	kind  msgKind
	sub   int
	chunk ports.Chunk
	more  *outMore // what the rarer kinds carry, so that the queue's slots stay small
}

// outMore is the payload of the messages other than chunks.
type outMore struct {
	raw        []byte
	deliveries []app.Delivery
	state      *subState
	chunks     int
}

func (m *outMsg) release() {
	switch m.kind {
	case msgChunk:
		m.chunk.Release()
	case msgChanges:
		for i := range m.more.deliveries {
			m.more.deliveries[i].Release()
		}
	}
}

// subState is what the writer knows of the current subscription.
type subState struct {
	sub    int
	cursor sealedCursor // as of the last message written
	live   *app.Subscription
	liveOn bool // catch-up written: live changes may follow
	// resumedView: the view was restored from the database for a resume.
	resumedView bool
	rows        int // snapshot rows written
}

func newConn(g *Gateway, ws *websocket.Conn, scope domain.Scope, filter string) *conn {
	ws.SetReadLimit(g.opts.MaxMessageBytes)
	ctx, cancel := context.WithCancel(context.Background())
	id := g.nextID.Add(1)
	return &conn{
		g: g, ws: ws, scope: scope, filter: filter, start: time.Now(),
		id: id, ctx: ctx, cancel: cancel,
		out: make(chan *outMsg, g.opts.QueueChunks), closeReq: make(chan closeMsg, 1),
	}
}

// serve runs the socket until it closes: the first subscription, then the
// client's messages, with the writer beside them when it has work.
//
// Its goroutine spends the socket's idle life parked in readLoop's read,
// so the frames below that read are kept small — the work is done in
// functions that have returned by then — for the goroutine's stack to
// shrink to its smallest size at the next garbage collection.
func (c *conn) serve(first *Subscription) {
	if exp := c.scope.Expires; !exp.IsZero() {
		// The token was checked once, at the upgrade; a socket must not
		// outlive it.
		t := time.AfterFunc(time.Until(exp), func() { c.closeWith(websocket.StatusPolicyViolation, "token expired") })
		defer t.Stop()
	}
	c.subscribe(*first)
	c.readLoop()
	c.finishClose()
}

// finishClose ends the socket once its reader has stopped, and logs it.
func (c *conn) finishClose() {
	c.closeWith(websocket.StatusNormalClosure, "")
	c.writers.Wait() // the close request ends the writer for good
	c.cancel()
	c.stopStream()
	c.drain() // what a stream queued after the writer stopped
	c.ws.CloseNow()
	closed := c.closedBy()
	c.g.log.Info("websocket closed", "conn", c.id, "filter", c.filter, "rows", c.rows.Load(), "changes", c.changes.Load(), "bytes", c.bytes.Load(),
		"dur", time.Since(c.start).Round(time.Millisecond).String(), "close_code", int(closed.code), "close_reason", closed.reason)
}

// readLoop handles client messages until the socket closes or a message is
// refused. Reading also answers pings and the close handshake.
func (c *conn) readLoop() {
	subscribes := newSubscribeBucket(c.g.opts.SubscribeBurst, c.g.opts.SubscribesPerSecond)
	for {
		// No context: one that can be cancelled costs every idle socket a
		// callback registration for its pending read. Whatever ends the
		// socket closes the connection, which ends the read.
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.recordReadError(err)
			return
		}
		if !c.handleMessage(typ, data, subscribes) {
			return
		}
	}
}

// recordReadError records why the reader stopped.
func (c *conn) recordReadError(err error) {
	if code := websocket.CloseStatus(err); code != -1 {
		c.recordClose(closeMsg{code: code, reason: "closed by client"})
	} else if errors.Is(err, websocket.ErrMessageTooBig) || isTooBig(err) {
		c.recordClose(closeMsg{code: websocket.StatusMessageTooBig, reason: "message too big"})
	} else {
		// No close frame came: the connection was dropped (or a write on
		// it failed). A close this side began was recorded before, and the
		// first record wins.
		c.recordClose(closeMsg{code: websocket.StatusAbnormalClosure, reason: "connection lost without a close frame"})
	}
}

// handleMessage acts on one client message; it reports false when the
// message closed the socket.
func (c *conn) handleMessage(typ websocket.MessageType, data []byte, subscribes *subscribeBucket) bool {
	if typ != websocket.MessageText {
		c.closeWith(websocket.StatusUnsupportedData, "send text messages")
		return false
	}
	_, sub, err := ParseClientMessage(data, c.g.cursors)
	if err == nil {
		sub.Query, err = c.scope.Restrict(sub.Query)
	}
	if err != nil {
		c.closeWith(websocket.StatusPolicyViolation, closeReason(err))
		return false
	}
	if !subscribes.allow(time.Now()) {
		c.closeWith(websocket.StatusPolicyViolation, subscribes.reason())
		return false
	}
	c.subscribe(sub)
	return true
}

func isTooBig(err error) bool {
	var ce websocket.CloseError
	return errors.As(err, &ce) && ce.Code == websocket.StatusMessageTooBig
}

// closeReason fits an error's message into a close frame (123 bytes).
func closeReason(err error) string {
	msg := err.Error()
	var derr *domain.Error
	if errors.As(err, &derr) {
		msg = derr.Message
		if derr.Param != "" {
			msg = derr.Param + ": " + msg
		}
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// subscribe replaces the current subscription with one for sub. Messages
// of the replaced subscription still queued are dropped by the writer.
func (c *conn) subscribe(sub Subscription) {
	c.stopStream()
	c.sub++
	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	c.streamCancel, c.streamDone = cancel, done
	n := c.sub
	go func() {
		defer close(done)
		c.runSubscription(ctx, n, sub)
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
func (c *conn) runSubscription(ctx context.Context, n int, sub Subscription) {
	q := sub.Query
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
		if resync == "" {
			skip = r.Live
		}
	}
	live, pos, err := c.g.hub.Subscribe(ctx, q, app.SubscribeOptions{SkipUntil: skip, Resumed: sub.Resume != nil && resync == "", Scope: c.scope, After: skip})
	if err != nil {
		if ctx.Err() == nil {
			c.fail(n, err)
		}
		return
	}
	live.SetNotify(c.kick)
	c.liveMu.Lock()
	c.live = live
	c.liveMu.Unlock()

	cluster, err := c.g.hub.Identity(ctx)
	if err != nil {
		c.fail(n, err)
		return
	}
	fresh := domain.LiveCursor{Filter: filter, Cluster: cluster, Watermark: pos, Snapshot: q.After, Live: pos, Start: q.After}
	st := &subState{sub: n, live: live, cursor: sealedCursor{LiveCursor: fresh, sealer: c.g.cursors}}
	if r := sub.Resume; r != nil && resync == "" {
		st.cursor.LiveCursor = *r
		// The dashboard holds tickets this socket never sent: the core
		// counts them from the database once, so that later changes move
		// the counts from the right buckets and removals reach it.
		st.resumedView = true
		if err := c.g.streamer.RestoreView(ctx, q, *r, live); err != nil {
			c.fail(n, err)
			return
		}
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
	var holds func(int64) bool
	if st.resumedView {
		holds = live.Holds
	}
	if err := c.catchUp(ctx, n, q, st.cursor.Live, pos, holds); err != nil {
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
// live change: what a resuming client missed.
func (c *conn) catchUp(ctx context.Context, n int, q domain.Query, after, until domain.ChangePos, holds func(int64) bool) error {
	return c.g.hub.CatchUp(ctx, q, c.scope, after, until, holds, func(ds []app.Delivery) error {
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
	case errors.Is(err, app.ErrMemoryBudget):
		c.closeWith(websocket.StatusTryAgainLater, reasonMemoryBudget)
	default:
		c.g.log.Error("subscription failed", "conn", c.id, "sub", n, "err", err)
		code, reason := websocket.StatusInternalError, "internal error"
		if dc := domain.ErrorCode(err); dc == domain.EUnavailable || errors.Is(err, context.DeadlineExceeded) {
			code, reason = websocket.StatusTryAgainLater, "database unavailable: reconnect with the cursor of the last message received"
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

// enqueue hands m to the writer, waiting at most the write timeout for room.
// On failure m is released.
func (c *conn) enqueue(ctx context.Context, msg outMsg) error {
	m := &msg // the queue holds pointers: its slots cost an idle socket little
	select {
	case c.out <- m:
		c.kick()
		return nil
	default:
	}
	timer := time.NewTimer(c.g.opts.WriteTimeout)
	defer timer.Stop()
	select {
	case c.out <- m:
		c.kick()
		return nil
	case <-timer.C:
		m.release()
		return errSlowClient
	case <-ctx.Done():
		m.release()
		return ctx.Err()
	}
}

// closeWith asks the writer to close the socket with code and reason after
// the message it is writing; queued messages are dropped. The first request
// wins.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.recordClose(closeMsg{code: code, reason: reason})
		c.closeReq <- closeMsg{code: code, reason: reason}
	})
	c.kick()
}

// kick starts the writer unless it is running or has finished. Whoever
// gives the writer work — a queued message, a live change, a close
// request — kicks it after handing the work over.
func (c *conn) kick() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wrunning || c.wfinished {
		return
	}
	c.wrunning = true
	c.writers.Add(1)
	go c.writeLoop()
}

// pending reports whether the writer has work. Writer only.
func (c *conn) pending() bool {
	return len(c.out) > 0 || len(c.closeReq) > 0 || (c.st.liveOn && c.st.live.Waiting())
}

// finish marks the writer done for good: the socket is closing.
func (c *conn) finish() {
	c.wmu.Lock()
	c.wfinished = true
	c.wmu.Unlock()
	c.releaseTaken()
	c.drain()
}

func (c *conn) recordClose(m closeMsg) {
	c.closedMu.Lock()
	defer c.closedMu.Unlock()
	if c.closed.code == 0 {
		c.closed = m
	}
}

func (c *conn) closedBy() closeMsg {
	c.closedMu.Lock()
	defer c.closedMu.Unlock()
	return c.closed
}

// scratch is a writer's working memory: message buffers and the batch of
// live changes it takes. A writer holds one only while it has something to
// write, so an idle socket keeps none, and a fan-out to thousands of
// sockets allocates none either.
type scratch struct {
	buf      []byte         // message prefix or whole small message
	filtered []byte         // a chunk with rows left out
	frame    []byte         // a message assembled from parts
	taken    []app.Delivery // live changes being written
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledScratch: a buffer that grew past this (a huge row) is left to
// the garbage collector rather than pooled.
const maxPooledScratch = 256 << 10

// putScratch gives the writer's scratch back to the pool. Writer only.
func (c *conn) putScratch() {
	sc := c.sc
	c.sc = nil
	if sc == nil {
		return
	}
	if cap(sc.buf) > maxPooledScratch || cap(sc.filtered) > maxPooledScratch || cap(sc.frame) > maxPooledScratch {
		return
	}
	clear(sc.taken[:cap(sc.taken)])
	sc.buf, sc.filtered, sc.frame, sc.taken = sc.buf[:0], sc.filtered[:0], sc.frame[:0], sc.taken[:0]
	scratchPool.Put(sc)
}

// writeLoop writes until there is nothing left to write, then returns; the
// next kick starts it again. It is the only goroutine that writes data
// messages: snapshot chunks and catch-up changes from the queue and, once
// the subscription is live, its live changes from the hub, alternately, so
// that fresh changes go out between the chunks of a large snapshot.
func (c *conn) writeLoop() {
	defer c.writers.Done()
	c.sc = scratchPool.Get().(*scratch)
	for {
		select {
		case req := <-c.closeReq:
			c.finish()
			_ = c.ws.Close(req.code, req.reason) // waits for the client's close, at most a few seconds
			c.cancel()
			return
		default:
		}
		if c.ctx.Err() != nil {
			c.finish()
			c.ws.CloseNow()
			return
		}
		var err error
		wrote := false
		select {
		case m := <-c.out:
			err, wrote = c.write(m), true
		default:
		}
		if err == nil && c.st.liveOn && c.st.live.Waiting() {
			err, wrote = c.writeLive(), true
		}
		if err != nil {
			if errors.Is(err, app.ErrOverflow) {
				c.g.obs.SlowClosed()
				c.closeWith(websocket.StatusTryAgainLater, "client too slow: reconnect with the cursor of the last message received")
				continue
			}
			if errors.Is(err, app.ErrMemoryBudget) {
				c.closeWith(websocket.StatusTryAgainLater, reasonMemoryBudget)
				continue
			}
			if c.ctx.Err() == nil {
				c.g.log.Debug("write failed", "conn", c.id, "err", err)
			}
			c.cancel()
			c.finish()
			c.ws.CloseNow() // ends the reader's read
			return
		}
		if !wrote {
			c.wmu.Lock()
			if !c.pending() {
				c.wrunning = false
				// An idle socket keeps no buffers: the next burst makes new ones.
				c.putScratch()
				c.wmu.Unlock()
				return
			}
			c.wmu.Unlock()
		}
	}
}

// liveMessageBytes bounds the changes the writer puts in one live message.
const liveMessageBytes = 64 * 1024

// writeLive writes the waiting live changes, up to liveMessageBytes, as
// one message.
func (c *conn) writeLive() error {
	var err error
	c.sc.taken, err = c.st.live.Take(c.sc.taken[:0], liveMessageBytes)
	if err != nil {
		return err
	}
	if len(c.sc.taken) > 0 {
		err = c.writeChanges(c.sc.taken)
		c.releaseTaken()
		if err != nil {
			return err
		}
	}
	return c.writeCountsIfDue()
}

// writeCountsIfDue sends a resumed dashboard every count once they describe
// what it holds (see app.Subscription.CountsDue).
func (c *conn) writeCountsIfDue() error {
	if !c.st.liveOn || !c.st.live.CountsDue() {
		return nil
	}
	c.st.live.CountsSent()
	c.sc.buf = countsMessage(c.sc.buf[:0], c.st.sub, c.st.cursor, c.st.live)
	return c.writeParts(c.sc.buf)
}

func (c *conn) releaseTaken() {
	if c.sc == nil {
		return
	}
	for i := range c.sc.taken {
		c.sc.taken[i].Release()
	}
	c.sc.taken = c.sc.taken[:0]
}

// write sends one queued message. Its deadline is twice the write timeout: by then
// the producer has already asked to close a slow client with 1013; past it,
// coder/websocket drops a client that reads nothing at all.
func (c *conn) write(m *outMsg) error {
	defer m.release()
	if m.kind == msgBegin {
		c.releaseTaken()
		c.st = *m.more.state
		return nil
	}
	if m.sub != c.st.sub {
		return nil // a replaced subscription's leftovers
	}
	switch m.kind {
	case msgLive:
		c.st.liveOn = true
		if c.st.cursor.SnapshotDone {
			c.st.live.Settle()
		}
		return c.writeCountsIfDue()
	case msgChanges:
		c.st.live.Apply(m.more.deliveries)
		return c.writeChanges(m.more.deliveries)
	case msgEnd:
		c.st.cursor.SnapshotDone = true
		c.st.live.Settle()
		c.sc.buf = endMessage(c.sc.buf[:0], m.sub, c.st.rows, m.more.chunks, c.st.cursor, c.st.live)
		if err := c.writeParts(c.sc.buf); err != nil {
			return err
		}
		return c.writeCountsIfDue()
	case msgRaw:
		return c.writeParts(m.more.raw)
	}
	c.st.cursor.Snapshot = m.chunk.Last
	c.st.cursor.Read = uint32(min(int64(c.st.cursor.Read)+int64(m.chunk.Rows), math.MaxUint32))
	rows, n, leftOut, err := c.st.live.HoldSnapshot(m.chunk, c.sc.filtered[:0])
	if err != nil {
		return err
	}
	if leftOut {
		c.sc.filtered = rows // the kept rows, in scratch that may have grown
	}
	c.sc.buf = snapshotPrefix(c.sc.buf[:0], m.sub, m.chunk.Seq, n, c.st.cursor)
	if err := c.writeParts(c.sc.buf, rows, []byte(snapshotSuffix)); err != nil {
		return err
	}
	c.st.rows += n
	c.rows.Add(int64(n))
	c.bytes.Add(int64(len(rows)))
	return nil
}

// writeChanges writes ds as one changes message, whose cursor is the last
// change's position.
func (c *conn) writeChanges(ds []app.Delivery) error {
	c.st.cursor.Live = ds[len(ds)-1].Pos
	c.sc.buf = changesPrefix(c.sc.buf[:0], c.st.sub, c.st.cursor, c.st.live)
	n := 0
	for i := range ds {
		if i > 0 {
			c.sc.buf = append(c.sc.buf, ',')
		}
		c.sc.buf = append(c.sc.buf, ds[i].Bytes()...)
		n += len(ds[i].Bytes())
	}
	c.sc.buf = append(c.sc.buf, snapshotSuffix...)
	if err := c.writeParts(c.sc.buf); err != nil {
		return err
	}
	now := time.Now().UnixNano()
	for i := range ds {
		if ds[i].Changed != 0 {
			c.g.obs.ChangeSent(time.Duration(now - ds[i].Changed))
		}
	}
	c.changes.Add(int64(len(ds)))
	c.bytes.Add(int64(n))
	return nil
}

// writeParts writes parts as one text message in one frame. The write
// has no context deadline — a timer per write would cost every message of a
// fan-out to thousands — the gateway's watchdog closes a socket whose write
// has been stuck for twice the write timeout instead (see watchWrites).
func (c *conn) writeParts(parts ...[]byte) error {
	msg := parts[0]
	if len(parts) > 1 {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		c.sc.frame = slices.Grow(c.sc.frame[:0], n)
		for _, p := range parts {
			c.sc.frame = append(c.sc.frame, p...)
		}
		msg = c.sc.frame
	}
	c.writingSince.Store(time.Now().UnixNano())
	err := c.ws.Write(context.Background(), websocket.MessageText, msg)
	c.writingSince.Store(0)
	if err == nil {
		c.g.obs.MessageSent(len(msg))
	}
	return err
}

// drain releases every queued message without writing it.
func (c *conn) drain() {
	for {
		select {
		case m := <-c.out:
			m.release()
		default:
			return
		}
	}
}

// ping checks that the client is still there; one that does not answer
// in the write timeout is dropped. The gateway's pinger calls it.
func (c *conn) ping() {
	ctx, cancel := context.WithTimeout(c.ctx, c.g.opts.WriteTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil && c.ctx.Err() == nil {
		c.recordClose(closeMsg{code: websocket.StatusGoingAway, reason: "no pong"})
		c.ws.CloseNow()
	}
}
