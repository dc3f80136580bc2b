package wsgateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
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
	log    *slog.Logger
	start  time.Time

	ctx    context.Context // lives as long as the socket
	cancel context.CancelFunc

	out       chan outMsg   // to the writer; only stream goroutines send
	closeReq  chan closeMsg // first close request wins
	closeOnce sync.Once
	closedMu  sync.Mutex
	closed    closeMsg // what closed the socket first, for the log

	sub          int // the current subscription; replaced by a subscribe message
	streamCancel context.CancelFunc
	streamDone   chan struct{}

	rows, bytes atomic.Int64
	changes     atomic.Int64
	buf         []byte         // the writer's message prefix buffer
	st          subState       // the writer's view of the subscription
	taken       []app.Delivery // the writer's batch of live changes
	liveMore    bool           // the writer left live changes waiting
	// liveSent holds the tickets that changes have been written for while
	// the snapshot streams: a snapshot row of one of them, read before the
	// change but written after it, is older and is left out.
	liveSent map[int64]struct{}
	filtered []byte // the writer's buffer for a chunk with rows left out
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
	kind       msgKind
	sub        int
	chunk      ports.Chunk
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
		for i := range m.deliveries {
			m.deliveries[i].Release()
		}
	}
}

// subState is what the writer knows of the current subscription.
type subState struct {
	sub    int
	cursor domain.LiveCursor // as of the last message written
	live   *app.Subscription
	liveOn bool // catch-up written: live changes may follow
	rows   int  // snapshot rows written
}

func newConn(g *Gateway, ws *websocket.Conn, scope domain.Scope, filter string) *conn {
	ws.SetReadLimit(g.opts.MaxMessageBytes)
	ctx, cancel := context.WithCancel(context.Background())
	id := g.nextID.Add(1)
	return &conn{
		g: g, ws: ws, scope: scope, filter: filter, start: time.Now(),
		log: g.log.With("conn", id), ctx: ctx, cancel: cancel,
		out: make(chan outMsg, g.opts.QueueChunks), closeReq: make(chan closeMsg, 1),
	}
}

// serve runs the socket until it closes: the first subscription, then the
// client's messages, with the writer and the pinger beside them.
func (c *conn) serve(first Subscription) {
	var workers sync.WaitGroup
	workers.Go(c.writeLoop)
	workers.Go(c.pingLoop)
	c.subscribe(first)
	c.readLoop()
	c.closeWith(websocket.StatusNormalClosure, "")
	workers.Wait()
	c.cancel()
	c.stopStream()
	c.drain() // what a stream queued after the writer stopped
	c.ws.CloseNow()
	closed := c.closedBy()
	c.log.Info("websocket closed", "filter", c.filter, "rows", c.rows.Load(), "changes", c.changes.Load(), "bytes", c.bytes.Load(),
		"dur", time.Since(c.start).Round(time.Millisecond).String(), "close_code", int(closed.code), "close_reason", closed.reason)
}

// readLoop handles client messages until the socket closes or a message is
// refused. Reading also answers pings and the close handshake.
func (c *conn) readLoop() {
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != -1 {
				c.recordClose(closeMsg{code: code, reason: "closed by client"})
			} else if errors.Is(err, websocket.ErrMessageTooBig) || isTooBig(err) {
				c.recordClose(closeMsg{code: websocket.StatusMessageTooBig, reason: "message too big"})
			}
			return
		}
		if typ != websocket.MessageText {
			c.closeWith(websocket.StatusUnsupportedData, "send text messages")
			return
		}
		_, sub, err := ParseClientMessage(data)
		if err == nil {
			sub.Query, err = c.scope.Restrict(sub.Query)
		}
		if err != nil {
			c.closeWith(websocket.StatusPolicyViolation, closeReason(err))
			return
		}
		c.subscribe(sub)
	}
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
}

// runSubscription serves one subscription until it is replaced or the
// socket closes: it joins the hub, which fixes the watermark between
// snapshot and live; on a resume it first sends the changes the client
// missed; then the snapshot (or its rest) streams while live changes are
// written between its chunks.
func (c *conn) runSubscription(ctx context.Context, n int, sub Subscription) {
	q := sub.Query
	filter := domain.FilterHash(q)
	var skip domain.ChangePos
	if sub.Resume != nil {
		skip = sub.Resume.Live
	}
	live, pos, err := c.g.hub.Subscribe(ctx, q, skip)
	if err != nil {
		if ctx.Err() == nil {
			c.fail(n, err)
		}
		return
	}
	defer live.Close()

	st := &subState{sub: n, live: live, cursor: domain.LiveCursor{Filter: filter, Watermark: pos, Snapshot: q.After, Live: pos}}
	resync := ""
	if r := sub.Resume; r != nil {
		resync = c.resumable(ctx, r, filter)
		if resync == "" {
			st.cursor = *r
		}
	}
	if err := c.enqueue(ctx, outMsg{kind: msgBegin, sub: n, state: st}); err != nil {
		c.fail(n, err)
		return
	}
	if resync != "" {
		c.log.Info("resume refused, resyncing", "sub", n, "reason", resync)
		if err := c.enqueue(ctx, outMsg{kind: msgRaw, sub: n, raw: resyncMessage(n, resync)}); err != nil {
			c.fail(n, err)
			return
		}
	}
	if err := c.catchUp(ctx, n, q, st.cursor.Live, pos); err != nil {
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
		sink := &socketSink{c: c, sub: n}
		sum, err := c.g.streamer.Stream(ctx, snap, ports.Comma, sink)
		if err == nil {
			err = c.enqueue(ctx, outMsg{kind: msgEnd, sub: n, chunks: sum.Chunks})
		}
		if err != nil {
			c.fail(n, err)
			return
		}
	}
	<-ctx.Done()
}

// resumable checks a resume cursor against this subscription and the
// feed's retention; it returns why the client must resync, or "".
func (c *conn) resumable(ctx context.Context, r *domain.LiveCursor, filter uint32) string {
	if r.Filter != filter {
		return "the cursor belongs to a subscription with another filter"
	}
	oldest, err := c.g.hub.ResumableAfter(ctx)
	if err != nil {
		return "the change history could not be checked"
	}
	if r.Live.Compare(oldest) < 0 {
		return "the cursor is older than the retained change history"
	}
	return ""
}

// catchUp queues the changes in (after, until] for the writer, before any
// live change: what a resuming client missed.
func (c *conn) catchUp(ctx context.Context, n int, q domain.Query, after, until domain.ChangePos) error {
	return c.g.hub.CatchUp(ctx, q, after, until, func(ds []app.Delivery) error {
		for len(ds) > 0 {
			k := min(len(ds), catchUpPerMessage)
			m := outMsg{kind: msgChanges, sub: n, deliveries: slices.Clone(ds[:k])}
			ds = ds[k:]
			if err := c.enqueue(ctx, m); err != nil {
				for i := range ds {
					ds[i].Release()
				}
				return err
			}
		}
		return nil
	})
}

// catchUpPerMessage bounds the changes in one catch-up message.
const catchUpPerMessage = 200

// fail ends a subscription that could not go on: the socket is closed with
// the code that tells the client what to do.
func (c *conn) fail(n int, err error) {
	switch {
	case c.ctx.Err() != nil:
	case errors.Is(err, errSlowClient):
		c.closeWith(websocket.StatusTryAgainLater, "client too slow: reconnect with the cursor of the last message received")
	case errors.Is(err, context.Canceled):
	default:
		c.log.Error("subscription failed", "sub", n, "err", err)
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
func (c *conn) enqueue(ctx context.Context, m outMsg) error {
	select {
	case c.out <- m:
		return nil
	default:
	}
	timer := time.NewTimer(c.g.opts.WriteTimeout)
	defer timer.Stop()
	select {
	case c.out <- m:
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

// alwaysReady is a closed channel: a select case on it is always ready.
var alwaysReady = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// writeLoop is the only goroutine that writes data messages. It takes
// snapshot chunks and catch-up changes from the queue and, once the
// subscription is live, its live changes from the hub, so that fresh
// changes go out between the chunks of a large snapshot.
func (c *conn) writeLoop() {
	defer c.releaseTaken()
	for {
		var live <-chan struct{}
		if c.st.liveOn {
			live = c.st.live.Ready()
			if c.liveMore {
				live = alwaysReady
			}
		}
		var err error
		select {
		case m := <-c.out:
			err = c.write(&m)
		case <-live:
			err = c.writeLive()
		case req := <-c.closeReq:
			c.drain()
			_ = c.ws.Close(req.code, req.reason) // waits for the client's close, at most a few seconds
			c.cancel()
			return
		case <-c.ctx.Done():
			c.drain()
			return
		}
		if err != nil {
			if errors.Is(err, app.ErrOverflow) {
				c.closeWith(websocket.StatusTryAgainLater, "client too slow: reconnect with the cursor of the last message received")
				continue
			}
			if c.ctx.Err() == nil {
				c.log.Debug("write failed", "err", err)
			}
			c.cancel()
			c.drain()
			return
		}
	}
}

// liveMessageBytes bounds the changes the writer puts in one live message.
const liveMessageBytes = 64 * 1024

// writeLive writes the waiting live changes, up to liveMessageBytes, as
// one message.
func (c *conn) writeLive() error {
	var err error
	c.taken, err = c.st.live.Take(c.taken[:0], liveMessageBytes)
	if err != nil {
		return err
	}
	c.liveMore = len(c.taken) > 0
	if len(c.taken) == 0 {
		return nil
	}
	err = c.writeChanges(c.taken)
	c.releaseTaken()
	return err
}

func (c *conn) releaseTaken() {
	for i := range c.taken {
		c.taken[i].Release()
	}
	c.taken = c.taken[:0]
}

// write sends one queued message. Its deadline is twice the write timeout: by then
// the producer has already asked to close a slow client with 1013; past it,
// coder/websocket drops a client that reads nothing at all.
func (c *conn) write(m *outMsg) error {
	defer m.release()
	if m.kind == msgBegin {
		c.releaseTaken()
		c.st, c.liveMore = *m.state, false
		clear(c.liveSent)
		return nil
	}
	if m.sub != c.st.sub {
		return nil // a replaced subscription's leftovers
	}
	switch m.kind {
	case msgLive:
		c.st.liveOn = true
		return nil
	case msgChanges:
		return c.writeChanges(m.deliveries)
	case msgEnd:
		c.st.cursor.SnapshotDone = true
		clear(c.liveSent)
		c.buf = endMessage(c.buf[:0], m.sub, c.st.rows, m.chunks, c.st.cursor)
		return c.writeParts(c.buf)
	case msgRaw:
		return c.writeParts(m.raw)
	}
	c.st.cursor.Snapshot = m.chunk.Last
	rows, n := m.chunk.Bytes(), m.chunk.Rows
	if len(c.liveSent) > 0 {
		c.filtered, n = leaveOut(c.filtered[:0], rows, c.liveSent)
		rows = c.filtered
	}
	c.buf = snapshotPrefix(c.buf[:0], m.sub, m.chunk.Seq, n, c.st.cursor)
	if err := c.writeParts(c.buf, rows, []byte(snapshotSuffix)); err != nil {
		return err
	}
	c.st.rows += n
	c.rows.Add(int64(n))
	c.bytes.Add(int64(len(rows)))
	return nil
}

// rowStart begins every encoded ticket but the first of a chunk: the
// encoder writes "id" first, and inside a JSON string a quote is always
// escaped, so this never occurs within a row.
var rowStart = []byte(`,{"id":`)

// leaveOut appends to dst the rows of a comma-joined chunk whose ids are not
// in skip, and returns them with their count.
func leaveOut(dst, chunk []byte, skip map[int64]struct{}) ([]byte, int) {
	kept := 0
	for start := 0; start < len(chunk); {
		end := bytes.Index(chunk[start+1:], rowStart)
		if end < 0 {
			end = len(chunk)
		} else {
			end += start + 1
		}
		row := chunk[start:end]
		if start > 0 {
			row = row[1:] // the comma
		}
		if _, ok := skip[rowID(row)]; !ok {
			if kept > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, row...)
			kept++
		}
		start = end
	}
	return dst, kept
}

// rowID reads the id of an encoded ticket, {"id":123,…}.
func rowID(row []byte) int64 {
	const prefix = len(`{"id":`)
	var id int64
	for i := prefix; i < len(row) && row[i] >= '0' && row[i] <= '9'; i++ {
		id = id*10 + int64(row[i]-'0')
	}
	return id
}

// writeChanges writes ds as one changes message, whose cursor is the last
// change's position.
func (c *conn) writeChanges(ds []app.Delivery) error {
	c.st.cursor.Live = ds[len(ds)-1].Pos
	if !c.st.cursor.SnapshotDone {
		if c.liveSent == nil {
			c.liveSent = map[int64]struct{}{}
		}
		for i := range ds {
			c.liveSent[ds[i].ID] = struct{}{}
		}
	}
	c.buf = changesPrefix(c.buf[:0], c.st.sub, c.st.cursor)
	ctx, cancel := context.WithTimeout(c.ctx, 2*c.g.opts.WriteTimeout)
	defer cancel()
	w, err := c.ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	if _, err := w.Write(c.buf); err != nil {
		return err
	}
	n := 0
	for i := range ds {
		if i > 0 {
			if _, err := w.Write(comma); err != nil {
				return err
			}
		}
		if _, err := w.Write(ds[i].Bytes()); err != nil {
			return err
		}
		n += len(ds[i].Bytes())
	}
	if _, err := w.Write([]byte(snapshotSuffix)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	c.changes.Add(int64(len(ds)))
	c.bytes.Add(int64(n))
	return nil
}

var comma = []byte{','}

// writeParts writes parts as one text message.
func (c *conn) writeParts(parts ...[]byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, 2*c.g.opts.WriteTimeout)
	defer cancel()
	if len(parts) == 1 {
		return c.ws.Write(ctx, websocket.MessageText, parts[0])
	}
	w, err := c.ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return w.Close()
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

// pingLoop checks that an idle client is still there; one that does not
// answer in the write timeout is dropped.
func (c *conn) pingLoop() {
	t := time.NewTicker(c.g.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(c.ctx, c.g.opts.WriteTimeout)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				if c.ctx.Err() == nil {
					c.recordClose(closeMsg{code: websocket.StatusGoingAway, reason: "no pong"})
					c.ws.CloseNow()
				}
				return
			}
		}
	}
}
