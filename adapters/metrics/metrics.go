// Package metrics exposes ticketstream's counters in the Prometheus text
// format at /metrics, with the official client library. Every metric is read
// from the core's own atomic counters when Prometheus scrapes, so counting
// costs the streaming and fan-out paths nothing beyond the atomic add they
// already do.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ticketstream/ticketstream/app"
)

// Sources are what the metrics are read from.
type Sources struct {
	Hub      *app.Hub
	Streamer *app.Streamer
	// OpenConnections returns the number of open dashboard sockets.
	OpenConnections func() int
}

// Handler returns the /metrics handler for src, on a registry of its own
// that also holds the Go runtime's and the process's collectors.
func Handler(src Sources) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "ticketstream", Name: name, Help: help}, f)
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "ticketstream", Name: name, Help: help}, f)
	}
	if h := src.Hub; h != nil {
		st := h.Stats()
		reg.MustRegister(
			counter("live_feed_reads_total", "Reads of the change feed.", func() float64 { return float64(st.Reads.Load()) }),
			counter("live_feed_read_errors_total", "Reads of the change feed that failed (the database unreachable).", func() float64 { return float64(st.ReadErrors.Load()) }),
			counter("live_changes_total", "Changes read from the change feed.", func() float64 { return float64(st.Changes.Load()) }),
			counter("live_deliveries_total", "Changes queued for a dashboard.", func() float64 { return float64(st.Deliveries.Load()) }),
			counter("live_coalesced_total", "Queued changes replaced by a newer version of the ticket before being sent (a dashboard behind).", func() float64 { return float64(st.Coalesced.Load()) }),
			counter("live_overflows_total", "Dashboards closed with 1013 because even coalesced they fell too far behind.", func() float64 { return float64(st.Overflows.Load()) }),
			gauge("live_subscribers", "Open live subscriptions.", func() float64 { return float64(h.Subscribers()) }),
			gauge("live_stalled_seconds", "Age of the oldest open writing transaction when older than the stall warning, else 0: every change after it waits until it ends.",
				func() float64 { return time.Duration(st.StalledNanos.Load()).Seconds() }),
			gauge("live_change_buffers_in_use", "Shared change buffers held by dashboards not yet written to.", func() float64 { return float64(h.PoolStats().InUse()) }),
		)
	}
	if s := src.Streamer; s != nil {
		ps := s.PoolStats()
		reg.MustRegister(
			counter("pool_gets_total", "Chunk buffers taken from the pool.", func() float64 { return float64(ps.Gets.Load()) }),
			counter("pool_news_total", "Chunk buffers that had to be allocated (pool misses).", func() float64 { return float64(ps.News.Load()) }),
			counter("pool_grown_total", "Chunk buffers that outgrew their capacity while a chunk was encoded (reallocations).", func() float64 { return float64(ps.Grown.Load()) }),
			counter("pool_dropped_total", "Chunk buffers too large to pool, left to the garbage collector.", func() float64 { return float64(ps.Dropped.Load()) }),
			gauge("pool_buffers_in_use", "Chunk buffers held by a stream or a sink.", func() float64 { return float64(ps.InUse()) }),
		)
	}
	if f := src.OpenConnections; f != nil {
		reg.MustRegister(gauge("websocket_connections", "Open dashboard sockets.", func() float64 { return float64(f()) }))
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
