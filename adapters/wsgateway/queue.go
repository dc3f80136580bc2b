// The queue between the subscription producer and the writer: a channel of
// outMsg bounded in messages. Producers send (enqueue), waiting at most the
// write timeout for room, and kick the writer; only the writer receives,
// except drain, which empties it once the writer has stopped for good.
// Every message owns what it carries (a pooled chunk, shared deliveries)
// until it is written or released.

package wsgateway

import (
	"context"
	"time"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/ports"
)

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
