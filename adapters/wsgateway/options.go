// The gateway's settings (Options, their defaults and validation) and the
// Observer it reports to.

package wsgateway

import (
	"math"
	"time"

	"github.com/ticketstream/ticketstream/adapters/hostguard"
	"github.com/ticketstream/ticketstream/domain"
)

// Options are the gateway's limits and policies.
type Options struct {
	// AllowedOrigins are host patterns (hostguard's syntax: an exact host
	// with an optional port, as "dash.example.com", or "*.example.com" for
	// its subdomains but not example.com itself) whose pages may open a
	// socket, besides the server's own host. A pattern of any other shape
	// matches nothing; callers check them with hostguard.ParsePatterns.
	// A request without an Origin header (not a browser) passes: origin
	// checks stop cross-site hijacking, tokens stop everyone else.
	AllowedOrigins []string
	// MaxConnections bounds open sockets; beyond it the upgrade gets 503.
	MaxConnections int
	// MaxConnectionsPerToken bounds the open sockets of one token, so that
	// one client cannot take them all; beyond it the upgrade gets 429.
	// It is off when the verifier checks no token.
	MaxConnectionsPerToken int
	// MaxConnectionsPerAddress bounds the open sockets of one client
	// address (the TCP peer's, never a forwarded-for header; an IPv6
	// address counts by its /64); beyond it the upgrade gets 429. Behind a
	// reverse proxy every client has the proxy's address: raise it there.
	MaxConnectionsPerAddress int
	// SubscribeBurst and SubscribesPerSecond rate-limit a socket's
	// subscribe messages, each of which starts a snapshot: a burst of
	// SubscribeBurst, then SubscribesPerSecond. A client beyond is closed
	// with 1008.
	SubscribeBurst      int
	SubscribesPerSecond float64
	// MaxMessageBytes bounds a client message; a larger one closes with 1009.
	MaxMessageBytes int64
	// WriteTimeout is how long a client may keep its queue full before it is
	// closed with 1013 (try again later) and a resume cursor.
	WriteTimeout time.Duration
	// QueueChunks is how many messages may wait for a slow client.
	QueueChunks int
	// PingInterval is how often an idle socket is pinged.
	PingInterval time.Duration
	// DisableCompression refuses permessage-deflate (RFC 7692): every
	// message goes out as it is, whatever the client offers. By default a
	// client that offers it (browsers do by themselves) gets it, without
	// context takeover either way, so that an idle socket keeps no
	// compressor: each message is compressed on its own by a pooled one.
	DisableCompression bool
	// CompressionThreshold is the size in bytes below which a message goes
	// uncompressed even on a socket that negotiated compression: deflating
	// a small message costs more CPU per byte saved than a large one, and a
	// live change is compressed once for every socket that receives it.
	// Zero means DefaultCompressionThreshold.
	CompressionThreshold int
	// CompressLiveChanges compresses live changes too (those of at least
	// CompressionThreshold bytes: bulk changes). By default they go out
	// uncompressed whatever their size, and only snapshot and catch-up
	// messages are compressed: a live change is sent to every socket that
	// holds its tickets, each compressing it alone, which costs the fan-out
	// about twice the CPU (BenchmarkCompression_LiveFanout).
	CompressLiveChanges bool
}

// DefaultOptions holds on a 2-core machine with a few thousand dashboards.
// A zero field of the Options given to New takes its default; see Validate.
func DefaultOptions() Options {
	return Options{MaxConnections: 10_000, MaxConnectionsPerToken: 100, MaxConnectionsPerAddress: 1000,
		SubscribeBurst: 20, SubscribesPerSecond: 5,
		MaxMessageBytes: 4096, WriteTimeout: 10 * time.Second, QueueChunks: 16, PingInterval: 30 * time.Second,
		CompressionThreshold: DefaultCompressionThreshold}
}

// DefaultCompressionThreshold leaves small messages uncompressed —
// deflating a message has a fixed cost, whatever its size — and compresses
// snapshot and catch-up messages (chunks of 32 KB), where it saves most of
// the bytes. The benchmarks in compression_bench_test.go measure where it
// pays.
const DefaultCompressionThreshold = 4096

// Observer is told what the sockets send, for metrics. Its methods run on
// every socket's writer: they must return at once and should not allocate.
type Observer interface {
	// MessageSent is called for each message written, with its size.
	MessageSent(bytes int)
	// ChangeSent is called for each live upsert written, with the time
	// since the ticket's updated_at.
	ChangeSent(lag time.Duration)
	// SlowClosed is called when a socket is closed with 1013 for falling
	// behind.
	SlowClosed()
	// Resumed is called for each subscription that came with a cursor,
	// saying how it resumed: ResumeClaimed, ResumeReadBack or
	// ResumeRefused.
	Resumed(how string)
}

// How a subscription with a cursor resumed (Observer.Resumed).
const (
	// ResumeClaimed: the client said what it holds, the cursor vouched for
	// it, and nothing of the filter was read back.
	ResumeClaimed = "claimed"
	// ResumeReadBack: the client said nothing of what it holds, or nothing
	// the cursor vouched for; what it holds was read back from the database.
	ResumeReadBack = "read_back"
	// ResumeRefused: the cursor could not be resumed (resync); the client
	// got a fresh snapshot.
	ResumeRefused = "resync"
)

type nopObserver struct{}

func (nopObserver) MessageSent(int)          {}
func (nopObserver) ChangeSent(time.Duration) {}
func (nopObserver) SlowClosed()              {}
func (nopObserver) Resumed(string)           {}

// MaxMessageBytesLimit is the largest MaxMessageBytes: a client message
// is a short subscribe, never a megabyte.
const MaxMessageBytesLimit = 1 << 20

// MaxQueueChunks is the largest QueueChunks. Each socket's queue is made
// with room for that many messages, and every waiting message may hold a
// 32 KB chunk: a thousand is 32 MB for one slow client, and a value that
// made each socket's queue alone take gigabytes would end the server at
// its first connection.
const MaxQueueChunks = 1024

// minMessageBytes is the smallest MaxMessageBytes: below it no subscribe
// message would fit. (Held messages may always take MaxHeldMessageBytes.)
const minMessageBytes = 64

// Validate reports a setting no gateway can use, naming it: zero means the
// default of DefaultOptions, a negative value is an error, and so is an
// allowed origin that is not a host pattern, a subscribe rate that is not
// a number, a message bound outside 64 bytes to 1 MiB, or a queue longer
// than MaxQueueChunks.
func (o Options) Validate() error {
	for _, f := range []struct {
		v     int
		param string
	}{{o.MaxConnections, "max-connections"}, {o.MaxConnectionsPerToken, "max-connections-per-token"},
		{o.MaxConnectionsPerAddress, "max-connections-per-address"}, {o.SubscribeBurst, "subscribe-burst"}, {o.QueueChunks, "queue-chunks"},
		{o.CompressionThreshold, "ws-compression-threshold"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or more, got %d", f.v)
		}
	}
	if o.QueueChunks > MaxQueueChunks {
		return domain.Invalidf("queue-chunks", "must be 0 (the default) or between 1 and %d, got %d", MaxQueueChunks, o.QueueChunks)
	}
	if r := o.SubscribesPerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return domain.Invalidf("subscribes-per-second", "must be 0 (the default) or a positive number, got %v", r)
	}
	if m := o.MaxMessageBytes; m != 0 && (m < minMessageBytes || m > MaxMessageBytesLimit) {
		return domain.Invalidf("max-message-bytes", "must be 0 (the default) or between %d and %d, got %d", minMessageBytes, MaxMessageBytesLimit, m)
	}
	for _, f := range []struct {
		v     time.Duration
		param string
	}{{o.WriteTimeout, "write-timeout"}, {o.PingInterval, "ping-interval"}} {
		if f.v < 0 {
			return domain.Invalidf(f.param, "must be 0 (the default) or a positive duration, got %s", f.v)
		}
	}
	if _, err := hostguard.ParsePatterns(o.AllowedOrigins); err != nil {
		return domain.Invalidf("allowed-origins", "must be host patterns: %v", err)
	}
	return nil
}

// withDefaults validates o and fills its zero fields.
func (o Options) withDefaults() (Options, error) {
	if err := o.Validate(); err != nil {
		return o, err
	}
	d := DefaultOptions()
	for _, f := range []struct{ v, def *int }{{&o.MaxConnections, &d.MaxConnections}, {&o.MaxConnectionsPerToken, &d.MaxConnectionsPerToken},
		{&o.MaxConnectionsPerAddress, &d.MaxConnectionsPerAddress}, {&o.SubscribeBurst, &d.SubscribeBurst}, {&o.QueueChunks, &d.QueueChunks},
		{&o.CompressionThreshold, &d.CompressionThreshold}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if o.SubscribesPerSecond == 0 {
		o.SubscribesPerSecond = d.SubscribesPerSecond
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = d.MaxMessageBytes
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = d.WriteTimeout
	}
	if o.PingInterval == 0 {
		o.PingInterval = d.PingInterval
	}
	return o, nil
}
