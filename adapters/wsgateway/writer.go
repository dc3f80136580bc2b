// The on-demand writer: a socket's writer runs only while the socket has
// something to write — queued messages, the subscription's live changes, a
// close request — in turns on the gateway's writer pool (writerpool.go),
// and stops when it has written everything, so that an idle socket costs
// one goroutine (its reader) and keeps no buffers. kick queues it for a
// turn; the next kick after it stopped queues it again.
//
// Who guards what. wmu guards wrunning and wfinished: kick and the
// writer's decision to stop take it together, so that work handed over
// while the writer stops is never left unwritten. While wrunning, exactly
// one of these holds the writer: the pool's FIFO, a worker running its turn
// (writeTurn), or the goroutine closing the socket. Only the writer touches
// sc (its scratch, pooled while it is stopped) and st (its view of the
// subscription), and only it writes data messages to the socket.
// writingSince (an atomic) tells the gateway's watchdog and the pool's
// check for stuck writes how long the write in progress has taken.

package wsgateway

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/ports"
)

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

// kick queues the writer for a turn unless it is running or has finished.
// Whoever gives the writer work — a queued message, a live change, a close
// request — kicks it after handing the work over.
func (c *conn) kick() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wrunning || c.wfinished {
		return
	}
	c.wrunning = true
	c.writers.Add(1)
	c.g.writerPool.submit(c)
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

// scratch is a writer's working memory: message buffers and the batch of
// live changes it takes. A writer holds one only while it has something to
// write, so an idle socket keeps none, and a fan-out to thousands of
// sockets allocates none either.
type scratch struct {
	buf      []byte         // message prefix or whole small message
	filtered []byte         // a chunk with rows left out
	frame    []byte         // a message assembled from parts
	taken    []app.Delivery // live changes being written
	counts   []byte         // a live window's counts
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
	if cap(sc.buf) > maxPooledScratch || cap(sc.filtered) > maxPooledScratch || cap(sc.frame) > maxPooledScratch || cap(sc.counts) > maxPooledScratch {
		return
	}
	clear(sc.taken[:cap(sc.taken)])
	sc.buf, sc.filtered, sc.frame, sc.taken, sc.counts = sc.buf[:0], sc.filtered[:0], sc.frame[:0], sc.taken[:0], sc.counts[:0]
	scratchPool.Put(sc)
}

// writeTurn writes up to turnMessages messages: snapshot chunks and
// catch-up changes from the queue and, once the subscription is live, its
// live changes from the hub, alternately, so that fresh changes go out
// between the chunks of a large snapshot. It reports whether the writer
// still has work and must have another turn; otherwise the writer has
// stopped (nothing left to write) or finished (the socket is closing).
func (c *conn) writeTurn() (again bool) {
	if c.sc == nil {
		c.sc = scratchPool.Get().(*scratch)
	}
	for wrote := 0; wrote < turnMessages; {
		select {
		case req := <-c.closeReq:
			c.finish()
			// The close handshake waits for the client's close, up to a
			// few seconds: not on a pool worker.
			go func() {
				defer c.writers.Done()
				_ = c.ws.Close(req.code, req.reason)
				c.cancel()
			}()
			return false
		default:
		}
		if c.ctx.Err() != nil {
			c.finish()
			c.ws.CloseNow()
			c.writers.Done()
			return false
		}
		var err error
		n := wrote
		select {
		case m := <-c.out:
			err = c.write(m)
			wrote++
		default:
		}
		if err == nil && c.st.liveOn && c.st.live.Waiting() {
			err = c.writeLive()
			wrote++
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
			if errors.Is(err, ports.ErrHistoryPruned) {
				c.closeWith(websocket.StatusTryAgainLater, reasonHistoryPruned)
				continue
			}
			if errors.Is(err, app.ErrWindowRead) {
				c.closeWith(websocket.StatusTryAgainLater, "database unavailable: reconnect")
				continue
			}
			if c.ctx.Err() == nil {
				c.g.log.Debug("write failed", "conn", c.id, "err", err)
			}
			c.cancel()
			c.finish()
			c.ws.CloseNow() // ends the reader's read
			c.writers.Done()
			return false
		}
		if wrote == n {
			c.wmu.Lock()
			if !c.pending() {
				c.wrunning = false
				// An idle socket keeps no buffers: the next burst makes new ones.
				c.putScratch()
				c.wmu.Unlock()
				c.writers.Done()
				return false
			}
			c.wmu.Unlock()
		}
	}
	return true
}

// liveMessageBytes bounds the changes the writer puts in one live message.
const liveMessageBytes = 64 * 1024

// writeLive writes the waiting live changes, up to liveMessageBytes, as
// one message.
func (c *conn) writeLive() error {
	var err error
	if c.st.live.Windowed() {
		c.sc.taken, c.sc.counts, err = c.st.live.TakeWindow(c.sc.taken[:0], liveMessageBytes, c.sc.counts[:0])
		if err == nil && (len(c.sc.taken) > 0 || len(c.sc.counts) > 0) {
			err = c.writeWindowChanges(c.sc.taken, c.sc.counts)
		}
		c.releaseTaken()
		return err
	}
	c.sc.taken, err = c.st.live.Take(c.sc.taken[:0], liveMessageBytes)
	if err != nil {
		return err
	}
	if len(c.sc.taken) > 0 {
		err = c.writeChanges(c.sc.taken, true)
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
		return c.writeChanges(m.more.deliveries, false) // a catch-up: this socket's alone
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
// change's position; live says they are live changes (sent to every socket
// holding their tickets), not a catch-up.
func (c *conn) writeChanges(ds []app.Delivery, live bool) error {
	c.st.cursor.Live = ds[len(ds)-1].Pos
	c.sc.buf = changesPrefix(c.sc.buf[:0], c.st.sub, c.st.cursor, c.st.live)
	if live {
		return c.writeDeliveries(ds, c.writeLiveMessage)
	}
	return c.writeDeliveries(ds, func(msg []byte) error { return c.writeParts(msg) })
}

// writeDeliveries ends the message begun in c.sc.buf with ds, joined by
// commas, writes it with write and counts what went out.
func (c *conn) writeDeliveries(ds []app.Delivery, write func([]byte) error) error {
	n := 0
	for i := range ds {
		if i > 0 {
			c.sc.buf = append(c.sc.buf, ',')
		}
		c.sc.buf = append(c.sc.buf, ds[i].Bytes()...)
		n += len(ds[i].Bytes())
	}
	c.sc.buf = append(c.sc.buf, snapshotSuffix...)
	if err := write(c.sc.buf); err != nil {
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

// writeWindowChanges writes a live window's operations, and its counts
// when they are due, as one changes message.
func (c *conn) writeWindowChanges(ds []app.Delivery, counts []byte) error {
	c.sc.buf = windowChangesPrefix(c.sc.buf[:0], c.st.sub, counts)
	return c.writeDeliveries(ds, c.writeLiveMessage)
}

// writeLiveMessage writes a message of live changes: as writeParts does,
// but uncompressed where live changes are to stay so (see
// Options.CompressLiveChanges).
func (c *conn) writeLiveMessage(msg []byte) error {
	if !c.plainLive || len(msg) < c.g.opts.CompressionThreshold {
		return c.writeParts(msg)
	}
	c.writingSince.Store(time.Now().UnixNano())
	c.corkOn()
	err := c.corkOff(c.writeUncompressed(context.Background(), msg))
	c.writingSince.Store(0)
	if err == nil {
		c.g.obs.MessageSent(len(msg))
	}
	return err
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
	c.corkOn()
	err := c.corkOff(c.ws.Write(context.Background(), websocket.MessageText, msg))
	c.writingSince.Store(0)
	if err == nil {
		c.g.obs.MessageSent(len(msg))
	}
	return err
}

// corkOn gathers what the writer writes from now on into one write to the
// network, made by corkOff (see corkedWriter).
func (c *conn) corkOn() {
	if c.cork != nil {
		c.cork.Cork()
	}
}

// corkOff writes what corkOn gathered; it returns err, the message's
// write error, or else the network's.
func (c *conn) corkOff(err error) error {
	if c.cork == nil {
		return err
	}
	if uerr := c.cork.Uncork(); err == nil {
		err = uerr
	}
	return err
}
