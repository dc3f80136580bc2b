package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// families gathers m's registry by name.
func families(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// series returns the series of family name whose labels include want.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			match = match && labels[want[i]] == want[i+1]
		}
		if match {
			return m
		}
	}
	t.Fatalf("no series of %s with %v", name, want)
	return nil
}

var discard = ports.ChunkSinkFunc(func(_ context.Context, c ports.Chunk) error {
	c.Release()
	return nil
})

// TestMetrics_ValuesAfterAKnownStream streams known tickets and checks what
// each per-stream metric says about them.
func TestMetrics_ValuesAfterAKnownStream(t *testing.T) {
	tickets := demodata.New(3).Tickets(1000)
	streamer, err := app.NewStreamer(&portstest.Source{Tickets: tickets}, app.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := New(Sources{Streamer: streamer, OpenConnections: func() int { return 7 }})
	streamer.SetObserver(m)
	var chunks []int
	sink := ports.ChunkSinkFunc(func(_ context.Context, c ports.Chunk) error {
		chunks = append(chunks, c.Len())
		c.Release()
		return nil
	})
	sum, err := streamer.Stream(context.Background(), domain.Query{}, ports.Comma, sink)
	if err != nil {
		t.Fatal(err)
	}
	m.MessageSent(100)
	m.MessageSent(50)
	m.ChangeSent(30 * time.Millisecond)
	m.SlowClosed()
	m.Resumed(wsgateway.ResumeClaimed)
	m.Resumed(wsgateway.ResumeClaimed)
	m.Resumed(wsgateway.ResumeReadBack)
	m.QueryDone("snapshot", 2*time.Millisecond, nil)
	m.QueryDone("snapshot", 3*time.Millisecond, errors.New("connection reset"))
	m.QueryDone("ticket", time.Millisecond, nil)
	m.RowSkipped("changes")
	m.RowSkipped("changes")
	m.RequestDone("/v1/tickets", 200, time.Millisecond)
	m.RequestDone("/v1/tickets", 400, time.Millisecond)
	m.RequestDone("", 404, time.Millisecond)

	f := families(t, m)
	hist := func(name string) (uint64, float64) {
		h := series(t, f, name).GetHistogram()
		return h.GetSampleCount(), h.GetSampleSum()
	}
	var chunkSum float64
	for _, c := range chunks {
		chunkSum += float64(c)
	}
	checks := []struct {
		name      string
		count     uint64
		sum, want float64
	}{
		{"ticketstream_stream_rows", 1, 0, 1000},
		{"ticketstream_stream_bytes", 1, 0, float64(sum.Bytes)},
		{"ticketstream_stream_chunks", 1, 0, float64(sum.Chunks)},
		{"ticketstream_stream_row_bytes", 1, 0, float64(sum.Bytes) / 1000},
		{"ticketstream_chunk_bytes", uint64(len(chunks)), 0, chunkSum},
		{"ticketstream_live_lag_seconds", 1, 0, 0.030},
	}
	for _, c := range checks {
		n, s := hist(c.name)
		if n != c.count || s < c.want*0.999 || s > c.want*1.001 {
			t.Errorf("%s: count %d sum %g, want %d and %g", c.name, n, s, c.count, c.want)
		}
	}
	if rb := float64(sum.Bytes) / 1000; rb < 300 || rb > 500 {
		t.Errorf("demo tickets average %.0f B, want about 393", rb)
	}
	counters := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ticketstream_websocket_messages_total", nil, 2},
		{"ticketstream_websocket_sent_bytes_total", nil, 150},
		{"ticketstream_websocket_slow_closed_total", nil, 1},
		{"ticketstream_websocket_resumes_total", []string{"how", "claimed"}, 2},
		{"ticketstream_websocket_resumes_total", []string{"how", "read_back"}, 1},
		{"ticketstream_websocket_resumes_total", []string{"how", "resync"}, 0},
		{"ticketstream_db_query_errors_total", []string{"kind", "snapshot"}, 1},
		{"ticketstream_db_query_errors_total", []string{"kind", "ticket"}, 0},
		{"ticketstream_db_rows_skipped_total", []string{"kind", "changes"}, 2},
		{"ticketstream_db_rows_skipped_total", []string{"kind", "snapshot"}, 0},
		{"ticketstream_http_requests_total", []string{"route", "/v1/tickets", "code", "200"}, 1},
		{"ticketstream_http_requests_total", []string{"route", "/v1/tickets", "code", "400"}, 1},
		{"ticketstream_http_requests_total", []string{"route", "unmatched", "code", "404"}, 1},
		{"ticketstream_pool_gets_total", nil, float64(sum.Chunks)},
	}
	for _, c := range counters {
		if got := series(t, f, c.name, c.labels...).GetCounter().GetValue(); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
	if n := series(t, f, "ticketstream_db_query_duration_seconds", "kind", "snapshot").GetHistogram().GetSampleCount(); n != 2 {
		t.Errorf("snapshot query durations: %d, want 2", n)
	}
	if g := series(t, f, "ticketstream_websocket_connections").GetGauge().GetValue(); g != 7 {
		t.Errorf("websocket_connections = %g", g)
	}

	// The handler serves them in Prometheus's text format.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), "ticketstream_stream_rows_count 1") || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("/metrics:\n%.2000s", body)
	}
}

// Metrics observes the gateway's sockets.
var _ wsgateway.Observer = (*Metrics)(nil)

// TestMetrics_ObservingAllocatesNothing: the observers run on the streaming
// and socket paths, once per chunk, message or change.
func TestMetrics_ObservingAllocatesNothing(t *testing.T) {
	m := New(Sources{})
	sum := app.Summary{Rows: 100, Bytes: 39_300, Chunks: 2}
	err := errors.New("x")
	allocs := testing.AllocsPerRun(1000, func() {
		m.ChunkSent(33_000, 84)
		m.StreamDone(sum)
		m.MessageSent(120)
		m.ChangeSent(time.Millisecond)
		m.Resumed(wsgateway.ResumeClaimed)
		m.QueryDone("snapshot", time.Millisecond, nil)
		m.QueryDone("changes", time.Millisecond, err)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per round of observations, want 0", allocs)
	}
}
