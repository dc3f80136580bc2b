// Package metrics exposes ticketstream's counters in the Prometheus text
// format at /metrics, with the official client library. Counters the core
// keeps anyway (pool, hub) are read when Prometheus scrapes; the rest —
// per-stream histograms, socket traffic, change lag, database queries,
// HTTP requests — are reported by the core and the adapters through the
// small observer interfaces each declares, which Metrics implements. An
// observation is an atomic add on a pre-resolved series: no allocation on
// the streaming path (BenchmarkStreamMetricsOverhead measures the cost).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ticketstream/ticketstream/app"
)

// Sources are the counters read at scrape time.
type Sources struct {
	Hub      *app.Hub
	Streamer *app.Streamer
	// OpenConnections returns the number of open dashboard sockets.
	OpenConnections func() int
}

// Metrics is the registry of one server, and the observer of its streams,
// sockets, queries and requests.
type Metrics struct {
	reg *prometheus.Registry

	streamRows, streamBytes, streamChunks, rowBytes, chunkBytes prometheus.Histogram

	wsMessages, wsBytes, wsSlowClosed prometheus.Counter
	liveLag                           prometheus.Histogram

	queryDurationVec *prometheus.HistogramVec
	queryErrorsVec   *prometheus.CounterVec
	queryDuration    map[string]prometheus.Observer // read-only after New
	queryErrors      map[string]prometheus.Counter
	rowsSkippedVec   *prometheus.CounterVec
	rowsSkipped      map[string]prometheus.Counter
	requests         *prometheus.CounterVec
	resumesVec       *prometheus.CounterVec
	resumes          map[string]prometheus.Counter
}

var _ app.StreamObserver = (*Metrics)(nil)

// queryKinds are the kinds of database query the store reports, resolved
// in advance; another kind is counted too, through a lookup.
var queryKinds = []string{"snapshot", "changes", "ticket"}

// resumeKinds are how the gateway says a subscription resumed
// (wsgateway.ResumeClaimed, ResumeReadBack, ResumeRefused), resolved in
// advance and so shown at 0 before the first of each.
var resumeKinds = []string{"claimed", "read_back", "resync"}

const namespace = "ticketstream"

// New returns the metrics of a server whose counters are read from src, on
// a registry of its own that also holds the Go runtime's and the process's
// collectors.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg, queryDuration: map[string]prometheus.Observer{}, queryErrors: map[string]prometheus.Counter{}, rowsSkipped: map[string]prometheus.Counter{}}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets})
		reg.MustRegister(h)
		return h
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	m.streamRows = histogram("stream_rows", "Tickets per stream (REST response or WebSocket snapshot).", prometheus.ExponentialBuckets(1, 10, 8))
	m.streamBytes = histogram("stream_bytes", "Bytes of ticket JSON per stream.", prometheus.ExponentialBuckets(1024, 4, 10))
	m.streamChunks = histogram("stream_chunks", "Chunks per stream.", prometheus.ExponentialBuckets(1, 4, 10))
	m.rowBytes = histogram("stream_row_bytes", "Mean bytes of JSON per ticket, one observation per stream: the row size the buffer sizes were chosen for.",
		prometheus.ExponentialBuckets(64, 2, 9))
	m.chunkBytes = histogram("chunk_bytes", "Size of each chunk sent: the chunk threshold plus at most one ticket, or less for a stream's last chunk.",
		prometheus.ExponentialBuckets(1024, 2, 10))
	m.wsMessages = counter("websocket_messages_total", "WebSocket messages written to dashboards.")
	m.wsBytes = counter("websocket_sent_bytes_total", "Bytes of WebSocket messages written to dashboards.")
	m.wsSlowClosed = counter("websocket_slow_closed_total", "Dashboards closed with 1013 for falling behind (snapshot queue full for the write timeout, or live queue over its bound).")
	m.liveLag = histogram("live_lag_seconds", "Time from a ticket's updated_at to its change being written to a dashboard socket, per change and socket (the writer's clock: accurate when the writer sets updated_at at commit, as ticketstream and most applications do).",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30})
	qd := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "db_query_duration_seconds",
		Help:    "Database query duration by kind: snapshot (one keyset batch), changes (one page of the change feed), ticket (one by id).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30}}, []string{"kind"})
	qe := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "db_query_errors_total",
		Help: "Database queries that failed, by kind (a query cancelled because its client left is not an error)."}, []string{"kind"})
	rs := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "db_rows_skipped_total",
		Help: "Ticket rows left out of a read because they cannot be decoded (a value of the wrong type, written by another program), by kind: snapshot (streams), changes (the change feed, whose live updates go on without them). Each is logged with its id; it stays skipped until rewritten."}, []string{"kind"})
	rv := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "websocket_resumes_total",
		Help: "Subscriptions that came with a cursor, by how they resumed: claimed (the client said what it holds and the cursor vouched for it: nothing of the filter read back), read_back (the ids, statuses and teams of the filter read back from the database), resync (the cursor refused: a fresh snapshot)."}, []string{"how"})
	reg.MustRegister(qd, qe, rs, rv)
	m.resumesVec, m.resumes = rv, map[string]prometheus.Counter{}
	for _, how := range resumeKinds {
		m.resumes[how] = rv.WithLabelValues(how)
	}
	m.queryDurationVec, m.queryErrorsVec, m.rowsSkippedVec = qd, qe, rs
	for _, k := range queryKinds { // resolved once: observing then costs no lookup
		m.queryDuration[k] = qd.WithLabelValues(k)
		m.queryErrors[k] = qe.WithLabelValues(k)
		m.rowsSkipped[k] = rs.WithLabelValues(k)
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests by route and status code (WebSocket upgrades count under /v1/stream)."}, []string{"route", "code"})
	reg.MustRegister(m.requests)
	m.registerSources(src)
	return m
}

func (m *Metrics) registerSources(src Sources) {
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, f)
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, f)
	}
	if h := src.Hub; h != nil {
		m.reg.MustRegister(
			counter("live_feed_reads_total", "Reads of the change feed.", func() float64 { return float64(h.Stats().Reads) }),
			counter("live_feed_read_errors_total", "Reads of the change feed that failed (the database unreachable).", func() float64 { return float64(h.Stats().ReadErrors) }),
			counter("live_changes_total", "Changes read from the change feed.", func() float64 { return float64(h.Stats().Changes) }),
			counter("live_deliveries_total", "Changes queued for a dashboard.", func() float64 { return float64(h.Stats().Deliveries) }),
			counter("live_coalesced_total", "Queued changes replaced by a newer version of the ticket before being sent (a dashboard behind).", func() float64 { return float64(h.Stats().Coalesced) }),
			counter("live_window_reads_total", "Database reads of live windows (sort and window=N): when one opens, and when one's rows kept beyond its edge run short.", func() float64 { return float64(h.Stats().WindowReads) }),
			counter("live_overflows_total", "Dashboards closed with 1013 because even coalesced they fell too far behind.", func() float64 { return float64(h.Stats().Overflows) }),
			counter("live_history_pruned_total", "Times the change history was pruned before this server read it, and every live dashboard was closed with 1013 to start afresh.", func() float64 { return float64(h.Stats().HistoryPruned) }),
			gauge("live_subscribers", "Open live subscriptions.", func() float64 { return float64(h.Subscribers()) }),
			gauge("live_stalled_seconds", "How long the change feed has not been read, once past the stall warning, else 0: the database is down or hangs, or the read waits on a lock; no change reaches any dashboard meanwhile. Open transactions stall nothing.",
				func() float64 { return h.Stats().Stalled.Seconds() }),
			gauge("live_cursor_unrecorded_transactions", "Transactions open on the database server that a live cursor handed out now leaves out, having room for fewer (at least 15, more when their numbers lie close together); else 0. Delivery waits for none; a dashboard resuming from such a cursor is sent again what it had since the oldest left out began.",
				func() float64 { return float64(h.Stats().UnrecordedPending) }),
			gauge("live_change_buffers_in_use", "Shared change buffers held by dashboards not yet written to.", func() float64 { return float64(h.PoolStats().InUse()) }),
			gauge("live_memory_bytes", "Memory the live views and queues of every dashboard keep together, counted against --live-memory-budget-mib.", func() float64 { return float64(h.Stats().MemoryBytes) }),
			counter("live_memory_refusals_total", "Dashboards refused or closed with 1013 because the live memory budget was spent.", func() float64 { return float64(h.Stats().OverBudget) }),
		)
	}
	if s := src.Streamer; s != nil {
		m.reg.MustRegister(
			counter("pool_gets_total", "Chunk buffers taken from the pool.", func() float64 { return float64(s.PoolStats().Gets) }),
			counter("pool_news_total", "Chunk buffers that had to be allocated (pool misses); the hit rate is 1 - news/gets.", func() float64 { return float64(s.PoolStats().News) }),
			counter("pool_grown_total", "Chunk buffers that outgrew their capacity while a chunk was encoded (reallocations).", func() float64 { return float64(s.PoolStats().Grown) }),
			counter("pool_dropped_total", "Chunk buffers too large to pool, left to the garbage collector.", func() float64 { return float64(s.PoolStats().Dropped) }),
			gauge("pool_buffers_in_use", "Chunk buffers held by a stream or a sink.", func() float64 { return float64(s.PoolStats().InUse()) }),
		)
	}
	if f := src.OpenConnections; f != nil {
		m.reg.MustRegister(gauge("websocket_connections", "Open dashboard sockets.", func() float64 { return float64(f()) }))
	}
}

// Handler serves the registry at /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ChunkSent implements app.StreamObserver.
func (m *Metrics) ChunkSent(bytes, _ int) { m.chunkBytes.Observe(float64(bytes)) }

// StreamDone implements app.StreamObserver.
func (m *Metrics) StreamDone(sum app.Summary) {
	m.streamRows.Observe(float64(sum.Rows))
	m.streamBytes.Observe(float64(sum.Bytes))
	m.streamChunks.Observe(float64(sum.Chunks))
	if sum.Rows > 0 {
		m.rowBytes.Observe(float64(sum.Bytes) / float64(sum.Rows))
	}
}

// MessageSent is told each WebSocket message written (wsgateway.Observer).
func (m *Metrics) MessageSent(bytes int) {
	m.wsMessages.Inc()
	m.wsBytes.Add(float64(bytes))
}

// ChangeSent is told each live change written to a socket, with its lag.
func (m *Metrics) ChangeSent(lag time.Duration) { m.liveLag.Observe(max(lag, 0).Seconds()) }

// SlowClosed is told each socket closed for falling behind.
func (m *Metrics) SlowClosed() { m.wsSlowClosed.Inc() }

// Resumed implements wsgateway.Observer.
func (m *Metrics) Resumed(how string) {
	if c, ok := m.resumes[how]; ok {
		c.Inc()
		return
	}
	m.resumesVec.WithLabelValues(how).Inc()
}

// QueryDone is told each database query (gormstore.QueryObserver).
func (m *Metrics) QueryDone(kind string, d time.Duration, err error) {
	h, ok := m.queryDuration[kind]
	if !ok {
		h = m.queryDurationVec.WithLabelValues(kind)
	}
	h.Observe(d.Seconds())
	if err == nil {
		return
	}
	c, ok := m.queryErrors[kind]
	if !ok {
		c = m.queryErrorsVec.WithLabelValues(kind)
	}
	c.Inc()
}

// RowSkipped is told each ticket row a read left out because it cannot be
// decoded (gormstore.QueryObserver).
func (m *Metrics) RowSkipped(kind string) {
	c, ok := m.rowsSkipped[kind]
	if !ok {
		c = m.rowsSkippedVec.WithLabelValues(kind)
	}
	c.Inc()
}

// RequestDone is told each HTTP request (restapi.RequestObserver).
func (m *Metrics) RequestDone(route string, status int, _ time.Duration) {
	if route == "" {
		route = "unmatched" // a path outside the routes: one series, whatever was asked
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
}
