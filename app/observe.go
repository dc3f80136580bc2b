package app

// StreamObserver is told what the Streamer's streams deliver, for metrics.
// Its methods run on the streaming path: they must return at once and
// should not allocate.
type StreamObserver interface {
	// ChunkSent is called for each chunk a sink accepted, with its size in
	// bytes and its rows.
	ChunkSent(bytes, rows int)
	// StreamDone is called once at the end of every stream with what it
	// delivered, whether it succeeded or not.
	StreamDone(sum Summary)
}

// SetObserver makes the Streamer report to o. Call it before the first
// stream; nil (the default) reports nothing.
func (s *Streamer) SetObserver(o StreamObserver) { s.obs = o }
