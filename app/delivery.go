package app

import (
	"strconv"
	"sync/atomic"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// Delivery is one change queued for one subscriber: shared, encoded bytes
// and a reference that keeps them alive. Write Bytes, then Release.
type Delivery struct {
	// Pos is the change's position.
	Pos domain.ChangePos
	// ID is the ticket's id.
	ID int64
	// Changed is the ticket's updated_at in Unix nanoseconds, for measuring
	// how long a change took to reach a dashboard; 0 for a removal.
	Changed int64
	data    []byte
	ref     *sharedBuffer
	// What the dashboard counts an upsert under: its status number and the
	// offsets of its JSON-escaped team name in data.
	status             uint8
	teamStart, teamEnd int32
	removal            bool
	// earlier: an earlier version of the ticket waits in the same queue.
	earlier bool
}

// Bytes returns the change encoded as a JSON object: {"op":"upsert",
// "ticket":{…}} or {"op":"remove","id":…}. Valid until Release.
func (d Delivery) Bytes() []byte { return d.data }

// Release drops the delivery's reference to its buffer.
func (d *Delivery) Release() {
	if d.ref != nil {
		d.ref.release()
		d.ref, d.data = nil, nil
	}
}

// sharedBuffer is a pooled buffer holding encoded changes, referenced by
// every subscriber that queued one of them. The last release returns it.
type sharedBuffer struct {
	buf  *buffer
	gen  uint64
	refs atomic.Int32
}

func (sb *sharedBuffer) retain() {
	if sb != &unpooled {
		sb.refs.Add(1)
	}
}

func (sb *sharedBuffer) release() {
	if sb == &unpooled {
		return
	}
	switch n := sb.refs.Add(-1); {
	case n == 0:
		sb.buf.recycle(sb.gen)
	case n < 0:
		panic("app: shared change buffer released more often than retained")
	}
}

// encodedBatch is one feed batch, encoded once for every subscriber: for
// each change its upsert (unless it is a deletion) and its removal, for
// subscribers that hold the ticket but whose filter it no longer passes.
type encodedBatch struct {
	bufs  []*sharedBuffer
	items []encodedChange
}

type encodedChange struct {
	change          *ports.Change
	buf             *sharedBuffer
	upsert, removal []byte
	changed         int64 // the ticket's updated_at, Unix ns
	status          uint8
	teamStart       int32 // of the escaped team name in upsert
	teamEnd         int32
}

// upsertPrefix begins the encoding of a live upsert; the ticket follows.
const upsertPrefix = `{"op":"upsert","ticket":`

// encodeChanges encodes batch into shared buffers, each holding one
// reference for the batch itself (dropped by release).
func (h *Hub) encodeChanges(batch []ports.Change) *encodedBatch {
	enc := &encodedBatch{items: make([]encodedChange, len(batch))}
	var cur *sharedBuffer
	for i := range batch {
		c := &batch[i]
		if cur == nil || len(cur.buf.b) > hubBufferCap {
			buf, gen := h.pool.get()
			cur = &sharedBuffer{buf: buf, gen: gen}
			cur.refs.Store(1)
			enc.bufs = append(enc.bufs, cur)
		}
		it := &enc.items[i]
		b := cur.buf.b
		start := len(b)
		var upsertEnd, teamEnd int
		if !c.Removed {
			b = append(b, upsertPrefix...)
			var err error
			if b, teamEnd, err = appendTicket(b, &c.Ticket); err != nil {
				// Not a JSON-encodable ticket (invalid UTF-8 is replaced,
				// so this is a time out of range): tell clients to drop it
				// rather than stall the feed.
				h.log.Error("change not encodable, sent as removal", "id", c.Ticket.ID, "err", err)
				b = b[:start]
			} else {
				b = append(b, '}')
				it.status = statusNumber(c.Ticket.Status)
				it.teamStart = int32(len(upsertPrefix) + teamOffset(c.Ticket.ID))
				it.teamEnd = int32(teamEnd - start)
			}
			upsertEnd = len(b)
		}
		rstart := len(b)
		b = append(b, `{"op":"remove","id":`...)
		b = strconv.AppendInt(b, c.Ticket.ID, 10)
		b = append(b, '}')
		cur.buf.b = b
		it.change, it.buf = c, cur
		it.removal = b[rstart:len(b):len(b)]
		if upsertEnd > start {
			it.upsert = b[start:upsertEnd:upsertEnd]
			it.changed = c.Ticket.UpdatedAt.UnixNano()
		}
	}
	return enc
}

// upsertDelivery returns item i as an upsert; it takes a reference.
func (e *encodedBatch) upsertDelivery(i int) Delivery {
	it := &e.items[i]
	it.buf.retain()
	return Delivery{Pos: it.change.Pos, ID: it.change.Ticket.ID, Changed: it.changed, data: it.upsert, ref: it.buf,
		status: it.status, teamStart: it.teamStart, teamEnd: it.teamEnd}
}

// removalDelivery returns item i as a removal; it takes a reference.
func (e *encodedBatch) removalDelivery(i int) Delivery {
	it := &e.items[i]
	it.buf.retain()
	return Delivery{Pos: it.change.Pos, ID: it.change.Ticket.ID, data: it.removal, ref: it.buf, removal: true}
}

func (e *encodedBatch) release() {
	for _, sb := range e.bufs {
		sb.release()
	}
}
