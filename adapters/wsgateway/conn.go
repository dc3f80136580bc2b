// The socket's lifecycle: a conn is made at the upgrade (newConn), served
// by one goroutine that subscribes and then reads client messages until the
// socket ends (serve, readLoop), and closed once (closeWith, finishClose).
// The subscription producer is in producer.go, the queue between it and the
// writer in queue.go, the on-demand writer in writer.go.
//
// Who guards what. The reader goroutine alone owns sub, streamCancel and
// streamDone and claim. closeOnce makes the first close request the only one sent on
// closeReq; closedMu guards closed, the reason logged. liveMu guards live,
// which the producer sets and the reader closes. The writer's own state
// (sc, st) and wmu's fields are described in writer.go. The counters and
// writingSince are atomics.

package wsgateway

import (
	"compress/flate"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

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
	claim        *claimBox // the current subscription's held tickets, if announced
	liveMu       sync.Mutex
	live         *app.Subscription // the current subscription's hub queue

	// plainLive: compression was negotiated, and live changes are still
	// to go out uncompressed (Options.CompressLiveChanges is off).
	plainLive bool
	// cork gathers each data message the writer sends into one write to
	// the network (see corkedWriter); nil when the upgrade kept net/http's
	// buffers.
	cork *corkedWriter

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

func newConn(g *Gateway, ws *websocket.Conn, scope domain.Scope, filter string) *conn {
	// Held messages may take MaxHeldMessageBytes whatever the bound on
	// the others, which handleMessage checks.
	ws.SetReadLimit(max(g.opts.MaxMessageBytes, MaxHeldMessageBytes))
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
		if corrupt := flate.CorruptInputError(0); errors.As(err, &corrupt) {
			// A compressed message that does not inflate (or one that
			// leans on an earlier message's window, against the
			// negotiated client_no_context_takeover).
			c.closeWith(websocket.StatusInvalidFramePayloadData, "a compressed message that does not inflate")
			return
		}
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
	if int64(len(data)) > c.g.opts.MaxMessageBytes && !isHeldMessage(data) {
		c.closeWith(websocket.StatusMessageTooBig, "message too big")
		return false
	}
	m, sub, err := ParseClientMessage(data, c.g.cursors)
	if err == nil && m.Type == "held" {
		return c.handleHeld(m)
	}
	if err == nil && c.claim != nil && !c.claim.complete() {
		err = domain.Invalidf(ParamHeld, "%d of the %d held tickets announced are still to come", c.claim.want-c.claim.got, c.claim.want)
	}
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
