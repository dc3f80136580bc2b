package wsgateway

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/ports/portstest"
)

// fakeSocket is a turnTaker whose turns run turn; a turn that blocks
// reports its write as started when it began.
type fakeSocket struct {
	started atomic.Int64
	turns   atomic.Int64
	turn    func(n int64) (again bool)
}

func (f *fakeSocket) writeTurn() bool {
	f.started.Store(time.Now().UnixNano())
	defer f.started.Store(0)
	return f.turn(f.turns.Add(1))
}

func (f *fakeSocket) writeStarted() int64 { return f.started.Load() }

// idle reports whether the pool has no worker and no pending check: an idle
// gateway keeps no goroutine and no timer for its writers.
func (p *writerPool) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.workers) == 0 && !p.checkOn && p.head == len(p.ready)
}

// More sockets than the pool has workers are stuck in writes to clients
// that stopped reading; a socket with a change for a reading client must
// still get its turn — long before the stuck writes end (here: never, until
// the test lets them).
func TestWriterPool_StuckWritesDoNotHoldBackTheOthers(t *testing.T) {
	p := newWriterPool()
	p.size = 2
	release := make(chan struct{})
	var stuck sync.WaitGroup
	for range p.size + 3 {
		stuck.Add(1)
		p.submit(&fakeSocket{turn: func(int64) bool {
			defer stuck.Done()
			<-release
			return false
		}})
	}
	done := make(chan struct{})
	p.submit(&fakeSocket{turn: func(int64) bool { close(done); return false }})
	portstest.Await(t, "the reading client's turn while the others' writes are stuck", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	close(release)
	stuck.Wait()
	portstest.Await(t, "the pool to go idle", p.idle)
}

// A socket with much to write (a large snapshot) has its turn, then queues
// behind the others: one worker alternates between it and a socket with one
// change, which goes out after one turn of the first, not after all of them.
func TestWriterPool_ALongWriterTakesTurns(t *testing.T) {
	p := newWriterPool()
	p.size = 1
	var longTurns atomic.Int64
	gate := make(chan struct{})
	long := &fakeSocket{turn: func(n int64) bool {
		if n == 1 {
			<-gate // until the other socket is queued
		}
		longTurns.Store(n)
		return n < 1000
	}}
	p.submit(long)
	var at atomic.Int64
	p.submit(&fakeSocket{turn: func(int64) bool { at.Store(longTurns.Load()); return false }})
	close(gate)
	portstest.Await(t, "the pool to go idle", p.idle)
	if n := at.Load(); n != 1 {
		t.Fatalf("the short socket's turn came after %d turns of the long one, want 1", n)
	}
	if n := long.turns.Load(); n != 1000 {
		t.Fatalf("the long socket had %d turns, want 1000", n)
	}
}

// Sockets submitted from many goroutines each get exactly the turns they
// ask for, and the pool ends with no worker, whatever the interleaving.
func TestWriterPool_EverySubmitGetsItsTurns(t *testing.T) {
	p := newWriterPool()
	const sockets, turns = 500, 3
	var total atomic.Int64
	var submitters sync.WaitGroup
	for range 10 {
		submitters.Go(func() {
			for range sockets / 10 {
				p.submit(&fakeSocket{turn: func(n int64) bool { total.Add(1); return n < turns }})
			}
		})
	}
	submitters.Wait()
	portstest.Await(t, "the pool to go idle", p.idle)
	if n := total.Load(); n != sockets*turns {
		t.Fatalf("%d turns taken, want %d", n, sockets*turns)
	}
}

// A worker stuck in a write for long (up to twice the write timeout, until
// the watchdog closes its socket) is detached; the check for stuck writes
// then stops, rather than waking 500 times a second for it.
func TestWriterPool_NoTimerWhileOnlyADetachedWorkerWaits(t *testing.T) {
	p := newWriterPool()
	release := make(chan struct{})
	ended := make(chan struct{})
	p.submit(&fakeSocket{turn: func(int64) bool {
		defer close(ended)
		<-release
		return false
	}})
	portstest.Await(t, "the stuck worker detached and the check stopped", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.active == 0 && !p.checkOn && len(p.workers) == 1
	})
	close(release)
	<-ended
	portstest.Await(t, "the pool to go idle", p.idle)
}
