// The gateway's writer pool: the sockets that have something to write wait
// in one FIFO, and a few worker goroutines take turns writing them (a
// socket's turn is writeTurn, in writer.go). A change fanned out to 10,000
// dashboards so makes a handful of goroutines runnable, not 10,000: the
// hub's next read of the change feed, and the reader goroutines, are not
// queued behind thousands of writers, and no goroutine is started and
// destroyed per socket per change.
//
// A write blocks while the client's TCP buffers are full (a slow link, or a
// client that stopped reading). A worker whose write has taken longer than
// stuckWrite is detached — it finishes that socket's turn and ends — and a
// fresh worker takes its place, so that slow sockets cost a goroutine each,
// as they did, and never hold the others back for longer than stuckWrite.
// The pool starts workers on demand, and they end when the FIFO is empty:
// an idle gateway has none, and no timer.
//
// Who guards what. writerPool.mu guards the FIFO, the workers and each
// worker's detached flag; a worker's conn is an atomic, read by the check
// for stuck writes. A socket is in the FIFO at most once: kick enqueues it
// only when its writer is not running (conn.wrunning), and it is enqueued
// again only by the worker whose turn it just had.

package wsgateway

import (
	"runtime"
	"sync"
	"time"
)

// stuckWrite is how long a worker may be inside one write before another
// worker takes its place. Writes to a reading client take microseconds; a
// write this long waits for the client's buffers to drain.
const stuckWrite = 2 * time.Millisecond

// turnMessages bounds the messages one socket's turn writes, so that a
// socket streaming a large snapshot lets the others' changes go out
// between its chunks.
const turnMessages = 4

// turnTaker is what the pool runs: a socket's writer (*conn).
type turnTaker interface {
	// writeTurn writes a little and reports whether there is more.
	writeTurn() (again bool)
	// writeStarted is when the write in progress began (Unix ns), 0 when
	// none is.
	writeStarted() int64
}

// writerPool runs the writers of a gateway's sockets on a few goroutines.
type writerPool struct {
	size int // workers wanted while there is work (not counting detached ones)

	mu      sync.Mutex
	ready   []turnTaker // sockets waiting for a turn: ready[head:]
	head    int
	workers map[*poolWorker]struct{}
	active  int // workers not detached
	check   *time.Timer
	checkOn bool
}

// poolWorker is one worker goroutine.
type poolWorker struct {
	turn     turnTaker // the socket whose turn it is running, if any
	detached bool      // stuck in a write: ends after this turn
}

func newWriterPool() *writerPool {
	return &writerPool{size: max(4, 2*runtime.GOMAXPROCS(0)), workers: map[*poolWorker]struct{}{}}
}

// writeStarted implements turnTaker.
func (c *conn) writeStarted() int64 { return c.writingSince.Load() }

// submit queues c for a turn.
func (p *writerPool) submit(c turnTaker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = append(p.ready, c)
	p.staffLocked()
}

// staffLocked starts workers while fewer than the pool's size are at work
// and sockets wait for them; with the first, the check for stuck writes.
func (p *writerPool) staffLocked() {
	for p.active < p.size && p.active < len(p.ready)-p.head {
		w := &poolWorker{}
		p.workers[w] = struct{}{}
		p.active++
		go p.work(w)
	}
	// Only workers still counted need watching: a detached one may stay
	// stuck for long, and the gateway is otherwise idle meanwhile.
	if p.active > 0 && !p.checkOn {
		p.checkOn = true
		if p.check == nil {
			p.check = time.AfterFunc(stuckWrite, p.checkStuck)
		} else {
			p.check.Reset(stuckWrite)
		}
	}
}

// work gives sockets their turns until none is waiting, or the worker was
// detached.
func (p *writerPool) work(w *poolWorker) {
	var c turnTaker
	again := false
	for {
		if c = p.next(w, c, again); c == nil {
			return
		}
		again = c.writeTurn()
	}
}

// next ends the turn of done — queueing it again at the back if it has
// more to write — and returns the socket whose turn is next, or nil when
// the worker is to end: nothing is waiting, or it was detached.
func (p *writerPool) next(w *poolWorker, done turnTaker, again bool) turnTaker {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.turn = nil
	if again {
		p.ready = append(p.ready, done)
	}
	if w.detached || p.head == len(p.ready) {
		delete(p.workers, w)
		if !w.detached {
			p.active--
		}
		p.staffLocked() // a detached worker's socket may still need one
		return nil
	}
	c := p.ready[p.head]
	p.ready[p.head] = nil
	p.head++
	if p.head == len(p.ready) {
		// Empty: start over, letting go of what a fan-out made the FIFO grow.
		if cap(p.ready) > 1024 {
			p.ready = nil
		} else {
			p.ready = p.ready[:0]
		}
		p.head = 0
	} else if p.head > 1024 && p.head > len(p.ready)/2 {
		n := copy(p.ready, p.ready[p.head:])
		clear(p.ready[n:])
		p.ready, p.head = p.ready[:n], 0
	}
	w.turn = c
	return c
}

// checkStuck detaches the workers whose write has taken longer than
// stuckWrite and starts others in their place while sockets wait. It runs
// every stuckWrite while a worker that is not detached runs.
func (p *writerPool) checkStuck() {
	p.mu.Lock()
	defer p.mu.Unlock()
	limit := time.Now().Add(-stuckWrite).UnixNano()
	for w := range p.workers {
		if w.detached || w.turn == nil {
			continue
		}
		if since := w.turn.writeStarted(); since != 0 && since < limit {
			w.detached = true
			p.active--
		}
	}
	p.checkOn = false
	p.staffLocked()
}
