//go:build !race

// The race detector's sync.Pool drops a share of what is put back, at
// random, and its runtime allocates: allocation counts hold without it.

package restapi

import (
	"bytes"
	"io"
	"testing"
)

// TestEncoders_WarmRoundTripAllocatesNoState: an encoder from a warm pool,
// reset for a response, written, flushed, closed and given back allocates
// nothing for its state. zstd's frame header and checksum go through small
// temporaries the library passes to the writer (two tiny allocations per
// response); gzip allocates nothing.
func TestEncoders_WarmRoundTripAllocatesNoState(t *testing.T) {
	chunk := bytes.Repeat([]byte(`{"id":1,"team":"billing","status":"open"},`), 800)
	for _, tc := range []struct {
		c    coding
		most float64
	}{{codingGzip, 0}, {codingZstd, 2}} {
		t.Run(tc.c.String(), func(t *testing.T) {
			run := func() {
				e := takeEncoder(tc.c, io.Discard)
				for range 3 {
					_, _ = e.Write(chunk)
					_ = e.Flush()
				}
				_ = e.Close()
				putEncoder(tc.c, e)
			}
			run() // warm the pool
			if got := testing.AllocsPerRun(50, run); got > tc.most {
				t.Fatalf("%.1f allocations per response, want at most %v", got, tc.most)
			}
		})
	}
}
