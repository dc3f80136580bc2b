package wsgateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

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
	buf         []byte // the writer's message prefix buffer
}

type closeMsg struct {
	code   websocket.StatusCode
	reason string
}

// outMsg is a message for the writer: a chunk to wrap as a snapshot
// message, or ready bytes.
type outMsg struct {
	chunk    ports.Chunk
	hasChunk bool
	sub      int
	raw      []byte
}

func (m outMsg) release() {
	if m.hasChunk {
		m.chunk.Release()
	}
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
func (c *conn) serve(q domain.Query) {
	var workers sync.WaitGroup
	workers.Go(c.writeLoop)
	workers.Go(c.pingLoop)
	c.subscribe(q)
	c.readLoop()
	c.closeWith(websocket.StatusNormalClosure, "")
	workers.Wait()
	c.cancel()
	c.stopStream()
	c.drain() // what a stream queued after the writer stopped
	c.ws.CloseNow()
	closed := c.closedBy()
	c.log.Info("websocket closed", "filter", c.filter, "rows", c.rows.Load(), "bytes", c.bytes.Load(),
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
		_, q, err := ParseClientMessage(data)
		if err == nil {
			q, err = c.scope.Restrict(q)
		}
		if err != nil {
			c.closeWith(websocket.StatusPolicyViolation, closeReason(err))
			return
		}
		c.subscribe(q)
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

// subscribe replaces the current snapshot stream with one for q. Messages
// of the replaced subscription may still be in the queue; they carry its
// sub number, which clients use to ignore them.
func (c *conn) subscribe(q domain.Query) {
	c.stopStream()
	c.sub++
	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	c.streamCancel, c.streamDone = cancel, done
	sub := c.sub
	go func() {
		defer close(done)
		c.runStream(ctx, sub, q)
	}()
}

func (c *conn) stopStream() {
	if c.streamCancel != nil {
		c.streamCancel()
		<-c.streamDone
		c.streamCancel = nil
	}
}

// runStream sends the snapshot of q, then its end message. The socket stays
// open afterwards for the next subscription (and, later, live changes).
func (c *conn) runStream(ctx context.Context, sub int, q domain.Query) {
	sink := &socketSink{c: c, sub: sub}
	sum, err := c.g.streamer.Stream(ctx, q, ports.Comma, sink)
	if err == nil {
		err = c.enqueue(ctx, outMsg{raw: endMessage(sub, sum.Rows, sum.Chunks, sum.Last)})
	}
	switch {
	case err == nil, ctx.Err() != nil:
	case errors.Is(err, errSlowClient):
		c.closeWith(websocket.StatusTryAgainLater, "client too slow: reconnect with the cursor of the last message received")
	default:
		c.log.Error("snapshot stream failed", "sub", sub, "err", err)
		code, reason := websocket.StatusInternalError, "internal error"
		if dc := domain.ErrorCode(err); dc == domain.EUnavailable {
			code, reason = websocket.StatusTryAgainLater, "database unavailable: try again later"
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
	return s.c.enqueue(ctx, outMsg{chunk: ch, hasChunk: true, sub: s.sub})
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

// writeLoop is the only goroutine that writes data messages.
func (c *conn) writeLoop() {
	for {
		select {
		case m := <-c.out:
			if err := c.write(m); err != nil {
				if c.ctx.Err() == nil {
					c.log.Debug("write failed", "err", err)
				}
				c.cancel()
				c.drain()
				return
			}
		case req := <-c.closeReq:
			c.drain()
			_ = c.ws.Close(req.code, req.reason) // waits for the client's close, at most a few seconds
			c.cancel()
			return
		case <-c.ctx.Done():
			c.drain()
			return
		}
	}
}

// write sends one message. Its deadline is twice the write timeout: by then
// the producer has already asked to close a slow client with 1013; past it,
// coder/websocket drops a client that reads nothing at all.
func (c *conn) write(m outMsg) error {
	ctx, cancel := context.WithTimeout(c.ctx, 2*c.g.opts.WriteTimeout)
	defer cancel()
	if !m.hasChunk {
		return c.ws.Write(ctx, websocket.MessageText, m.raw)
	}
	defer m.chunk.Release()
	w, err := c.ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	c.buf = snapshotPrefix(c.buf[:0], m.sub, m.chunk.Seq, m.chunk.Rows, m.chunk.Last)
	if _, err := w.Write(c.buf); err != nil {
		return err
	}
	if _, err := w.Write(m.chunk.Bytes()); err != nil {
		return err
	}
	if _, err := w.Write([]byte(snapshotSuffix)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	c.rows.Add(int64(m.chunk.Rows))
	c.bytes.Add(int64(m.chunk.Len()))
	return nil
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
