package portstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/ports"
)

// OpenSink makes a ChunkSink for one test, and a function that returns the
// chunk payloads its consumer has received so far, in order. It registers
// its own cleanup with t.
type OpenSink func(t *testing.T) (sink ports.ChunkSink, received func() [][]byte)

// TestChunkSinkContract checks that the ChunkSink made by open behaves as
// ports.ChunkSink documents: payloads arrive intact and in order, and every
// chunk is released exactly once, also when the write fails.
func TestChunkSinkContract(t *testing.T, open OpenSink) {
	t.Run("delivers in order and releases each chunk once", func(t *testing.T) {
		sink, received := open(t)
		rel := &CountingReleaser{}
		var want [][]byte
		for i := range 5 {
			data := fmt.Appendf(nil, `{"id":%d,"subject":"chunk %d"}`, i+1, i)
			want = append(want, data)
			c := rel.Chunk(bytes.Clone(data))
			c.Seq, c.Rows = i, 1
			if err := sink.WriteChunk(context.Background(), c); err != nil {
				t.Fatalf("WriteChunk %d: %v", i, err)
			}
		}
		WaitFor(t, 10*time.Second, "every chunk to arrive and be released", func() bool {
			return len(received()) >= len(want) && rel.Released() == len(want)
		})
		got := received()
		if len(got) != len(want) {
			t.Fatalf("received %d chunks, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("chunk %d = %q, want %q", i, got[i], want[i])
			}
		}
		if d := rel.Doubles(); d != 0 {
			t.Fatalf("%d chunks released more than once", d)
		}
	})

	t.Run("cancelled write still releases", func(t *testing.T) {
		sink, _ := open(t)
		rel := &CountingReleaser{}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := sink.WriteChunk(ctx, rel.Chunk([]byte(`{"id":1}`)))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WriteChunk with a cancelled context = %v, want an error wrapping context.Canceled", err)
		}
		WaitFor(t, 10*time.Second, "the chunk to be released", func() bool { return rel.Released() == 1 })
		if d := rel.Doubles(); d != 0 {
			t.Fatalf("chunk released %d extra times", d)
		}
	})
}

// CountingReleaser lends chunks and counts their releases, so that a test can
// tell a leaked chunk (never released) from a doubly released one.
type CountingReleaser struct {
	mu       sync.Mutex
	next     uint64
	released map[uint64]int
}

// Chunk wraps data as a Chunk lent by r.
func (r *CountingReleaser) Chunk(data []byte) ports.Chunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	return ports.NewChunk(data, nil, r, r.next)
}

// ReleaseChunk implements ports.Releaser.
func (r *CountingReleaser) ReleaseChunk(token uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released == nil {
		r.released = map[uint64]int{}
	}
	r.released[token]++
}

// Released returns how many distinct chunks were released.
func (r *CountingReleaser) Released() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.released)
}

// Doubles returns how many extra releases there were beyond one per chunk.
func (r *CountingReleaser) Doubles() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.released {
		n += c - 1
	}
	return n
}

// Outstanding returns how many lent chunks were never released.
func (r *CountingReleaser) Outstanding() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.next) - len(r.released)
}

// WaitFor polls cond every few milliseconds until it holds, failing t if it
// does not within limit; what says what was awaited. Sinks and servers do
// their work asynchronously, so tests wait for its effects instead of sleeping.
func WaitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
