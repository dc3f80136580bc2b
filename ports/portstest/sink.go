package portstest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// Sink is a recording ports.ChunkSink.
type Sink struct {
	// Err, when set, is returned by write number FailAfter+1 and every later
	// one (FailAfter 0: the first write fails).
	Err       error
	FailAfter int
	// Delay is slept in each write (honouring ctx): a slow client.
	Delay time.Duration
	// HoldFor keeps each chunk for this long after WriteChunk returned, then
	// checks that its bytes did not change and releases it: a sink with a
	// queue. Wait for them with Wait; Corrupted counts the changed ones.
	HoldFor time.Duration
	// WriteChunkFn, when set, is called after the chunk was recorded, and its
	// result returned; the Sink still releases the chunk.
	WriteChunkFn func(ctx context.Context, c ports.Chunk) error

	mu        sync.Mutex
	writes    int
	chunks    []Recorded
	corrupted int
	held      sync.WaitGroup
}

// Recorded is a copy of a chunk the Sink received.
type Recorded struct {
	Seq, Rows int
	Last      domain.Cursor
	Data      []byte
}

var _ ports.ChunkSink = (*Sink)(nil)

// WriteChunk implements ports.ChunkSink: it records a copy of c and releases c.
func (s *Sink) WriteChunk(ctx context.Context, c ports.Chunk) error {
	rec := Recorded{Seq: c.Seq, Rows: c.Rows, Last: c.Last, Data: bytes.Clone(c.Bytes())}
	s.mu.Lock()
	s.writes++
	n := s.writes
	s.mu.Unlock()
	if s.HoldFor > 0 {
		s.held.Add(1)
		go s.holdAndCheck(c, rec.Data)
	} else {
		defer c.Release()
	}
	if s.Err != nil && n > s.FailAfter {
		return fmt.Errorf("portstest sink: %w", s.Err)
	}
	if s.Delay > 0 {
		timer := time.NewTimer(s.Delay)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("portstest sink: %w", ctx.Err())
		case <-timer.C:
		}
	} else if err := ctx.Err(); err != nil {
		return fmt.Errorf("portstest sink: %w", err)
	}
	s.mu.Lock()
	s.chunks = append(s.chunks, rec)
	s.mu.Unlock()
	if s.WriteChunkFn != nil {
		return s.WriteChunkFn(ctx, c)
	}
	return nil
}

func (s *Sink) holdAndCheck(c ports.Chunk, want []byte) {
	defer s.held.Done()
	defer c.Release()
	time.Sleep(s.HoldFor)
	if !bytes.Equal(c.Bytes(), want) {
		s.mu.Lock()
		s.corrupted++
		s.mu.Unlock()
	}
}

// Wait blocks until every held chunk has been checked and released.
func (s *Sink) Wait() { s.held.Wait() }

// Corrupted returns how many held chunks changed while the sink held them.
func (s *Sink) Corrupted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.corrupted
}

// Writes returns how many times WriteChunk was called.
func (s *Sink) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Chunks returns copies of the chunks written successfully, in order.
func (s *Sink) Chunks() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.chunks...)
}

// Joined returns the recorded chunks joined by delim: for a complete stream,
// the encodings of all rows joined by delim.
func (s *Sink) Joined(delim ports.Delimiter) []byte {
	var out []byte
	for i, c := range s.Chunks() {
		if i > 0 {
			out = append(out, byte(delim))
		}
		out = append(out, c.Data...)
	}
	return out
}
