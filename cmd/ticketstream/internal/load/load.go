// Package load drives a running ticketstream server the way its users do —
// dashboards over WebSocket and scripts over REST, with filters spread like
// real ones — and measures what they get: snapshot rows/s and MB/s,
// time-to-first-chunk and time-to-complete, change latency, errors by kind,
// and the server's memory as its own /metrics report it. It is what
// `ticketstream load` runs.
package load

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/klauspost/compress/zstd"

	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
)

// DefaultFilters are dashboards' filters, spread like a help desk's: the
// whole queue, a team's, open work, urgent work, narrower views.
var DefaultFilters = []string{
	"", "team=billing", "status=open,pending", "priority=urgent,high", "team=technical&status=new,open",
	"team=security,accounts", "status=new", "", "team=enterprise&priority=urgent", "status=solved,closed",
	"team=billing&status=open", "priority=low",
}

// Config says what load to make.
type Config struct {
	// Target is the server's base URL (http://host:port).
	Target *url.URL
	// Metrics is the URL of the server's /metrics, on its internal
	// listener; nil: the server's memory is not watched.
	Metrics *url.URL
	// Token is sent as a bearer token, if set.
	Token string
	// Sockets is how many WebSocket dashboards to open; Fetchers how many
	// REST clients fetch their filter over and over.
	Sockets, Fetchers int
	// Filters are spread over the clients in turn.
	Filters []string
	// Duration bounds the run.
	Duration time.Duration
	// Ramp is how many sockets to open per second (0: all at once).
	Ramp int
	// DisableCompression makes the sockets not offer permessage-deflate;
	// by default they offer it, as browsers do.
	DisableCompression bool
	// PlainREST makes the REST fetches not ask for a compressed answer; by
	// default they accept zstd and gzip, as curl --compressed and browsers
	// do.
	PlainREST bool
	// Writer, if set, changes a ticket; it is called WriteRate times a
	// second, so that change latency is measured even with no other writer.
	Writer    func(ctx context.Context) error
	WriteRate float64
	// Progress is called about once a second with the figures so far.
	Progress func(Progress)
}

// Progress is the state of a run, for the live progress line.
type Progress struct {
	Elapsed                 time.Duration
	Connected, SnapshotDone int
	Rows                    int64
	Changes                 int64
	Fetches                 int64
	Errors                  int
	ServerRSS               float64 // bytes, 0 if unknown
}

// Result is what a run measured; it is also written as JSON.
type Result struct {
	Target    string        `json:"target"`
	Sockets   int           `json:"sockets"`
	Fetchers  int           `json:"fetchers"`
	Duration  time.Duration `json:"duration_ns"`
	Snapshots struct {
		Complete      int         `json:"complete"`
		Rows          int64       `json:"rows"`
		Bytes         int64       `json:"bytes"`
		RowsPerSecond float64     `json:"rows_per_second"`
		MBPerSecond   float64     `json:"mb_per_second"`
		FirstChunk    Percentiles `json:"time_to_first_chunk"`
		Completion    Percentiles `json:"time_to_complete"`
	} `json:"websocket_snapshots"`
	REST struct {
		Fetches       int64       `json:"fetches"`
		Rows          int64       `json:"rows"`
		Bytes         int64       `json:"bytes"`
		RowsPerSecond float64     `json:"rows_per_second"`
		MBPerSecond   float64     `json:"mb_per_second"`
		FirstChunk    Percentiles `json:"time_to_first_byte"`
		// WireReceived is what the fetches' TCP connections carried toward
		// this client, compressed where the server compressed; Bytes is the
		// JSON they decoded to.
		WireReceived int64       `json:"wire_bytes_received"`
		Encoding     string      `json:"content_encoding,omitempty"`
		Completion   Percentiles `json:"time_to_complete"`
	} `json:"rest"`
	Changes struct {
		Received int64       `json:"received"`
		Written  int64       `json:"written"`
		Latency  Percentiles `json:"latency"`
	} `json:"changes"`
	// WebSocket is what the sockets' connections carried, counted on the
	// TCP connection: the upgrades, every frame as sent (compressed where
	// negotiated), pings and closes.
	WebSocket struct {
		CompressionOffered bool  `json:"compression_offered"`
		Dials              int64 `json:"dials"`
		Compressed         int64 `json:"dials_compressed"`
		MessageBytes       int64 `json:"message_bytes_received"`
		WireReceived       int64 `json:"wire_bytes_received"`
		WireSent           int64 `json:"wire_bytes_sent"`
	} `json:"websocket"`
	Errors map[string]int `json:"errors"`
	Server struct {
		RSSPeak      float64 `json:"rss_peak_bytes"`
		RSSEnd       float64 `json:"rss_end_bytes"`
		HeapPeak     float64 `json:"heap_inuse_peak_bytes"`
		Connections  float64 `json:"websocket_connections_peak"`
		MetricsError string  `json:"metrics_error,omitempty"`
	} `json:"server"`
}

// run is one load run's shared state.
type run struct {
	cfg   Config
	start time.Time
	http  *http.Client
	// wire counts the sockets' bytes; wsHTTP dials through it.
	wire   wsclient.WireCounter
	wsHTTP *http.Client
	// restWire counts the REST fetches' bytes; encoding is the last
	// Content-Encoding they got.
	restWire wsclient.WireCounter
	encoding atomic.Value // string

	connected, snapDone     atomic.Int64
	snapRows, snapBytes     atomic.Int64
	restRows, restBytes     atomic.Int64
	fetches, changes, wrote atomic.Int64
	dials, compressed       atomic.Int64
	msgBytes                atomic.Int64
	lastSnapEnd             atomic.Int64 // ns since start
	firstChunk, complete    samples
	restFirst, restComplete samples
	latency                 samples
	errs                    errorCounts

	mu                      sync.Mutex
	rssPeak, rssEnd, heapPk float64
	connPeak                float64
	metricsErr              string
}

// Run makes the load until cfg.Duration passes or ctx ends, and returns
// what it measured.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Filters) == 0 {
		cfg.Filters = DefaultFilters
	}
	if cfg.Progress == nil {
		cfg.Progress = func(Progress) {}
	}
	r := &run{cfg: cfg, start: time.Now()}
	r.http = &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: max(cfg.Fetchers, 2), DisableCompression: true, DialContext: r.restWire.DialContext,
	}}
	r.wsHTTP = r.wire.HTTPClient()
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { r.watchServer(ctx) })
	for i := range cfg.Fetchers {
		wg.Go(func() { r.fetcher(ctx, cfg.Filters[i%len(cfg.Filters)]) })
	}
	if cfg.Writer != nil && cfg.WriteRate > 0 {
		wg.Go(func() { r.writer(ctx) })
	}
	var ramp <-chan time.Time
	if cfg.Ramp > 0 {
		t := time.NewTicker(time.Second / time.Duration(cfg.Ramp))
		defer t.Stop()
		ramp = t.C
	}
	for i := 0; i < cfg.Sockets && ctx.Err() == nil; i++ {
		if ramp != nil {
			select {
			case <-ramp:
			case <-ctx.Done():
			}
		}
		wg.Go(func() { r.socket(ctx, cfg.Filters[i%len(cfg.Filters)]) })
	}
	wg.Wait()
	return r.result(), nil
}

func (r *run) url(path, filter string) string {
	u := *r.cfg.Target
	u.Path = path
	u.RawQuery = filter
	return u.String()
}

// socket is one dashboard: it loads its snapshot and stays live until the
// run ends, reconnecting (afresh) if the server closes it.
func (r *run) socket(ctx context.Context, filter string) {
	u := r.url("/v1/stream", filter)
	u = "ws" + strings.TrimPrefix(u, "http")
	opts := &websocket.DialOptions{Subprotocols: []string{"ticketstream.v1"}, HTTPClient: r.wsHTTP, CompressionMode: websocket.CompressionNoContextTakeover}
	if r.cfg.DisableCompression {
		opts.CompressionMode = websocket.CompressionDisabled
	}
	if r.cfg.Token != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + r.cfg.Token}}
	}
	for ctx.Err() == nil {
		began := time.Now()
		c, resp, err := websocket.Dial(ctx, u, opts)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if resp != nil {
				r.errs.add(fmt.Sprintf("upgrade refused %d", resp.StatusCode))
			} else {
				r.errs.add("dial: " + errKind(err))
			}
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		c.SetReadLimit(16 << 20)
		r.dials.Add(1)
		if strings.HasPrefix(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
			r.compressed.Add(1)
		}
		r.connected.Add(1)
		err = r.readSocket(ctx, c, began)
		r.connected.Add(-1)
		c.CloseNow()
		if ctx.Err() != nil {
			return
		}
		if code := websocket.CloseStatus(err); code != -1 {
			r.errs.add(fmt.Sprintf("closed %d", code))
		} else {
			r.errs.add("read: " + errKind(err))
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// changesMsg is the part of a changes message the latency needs.
type changesMsg struct {
	Changes []struct {
		Op     string `json:"op"`
		Ticket *struct {
			UpdatedAt time.Time `json:"updated_at"`
		} `json:"ticket"`
	} `json:"changes"`
}

var (
	snapshotPrefix = []byte(`{"type":"snapshot"`)
	endPrefix      = []byte(`{"type":"end"`)
	changesPrefix  = []byte(`{"type":"changes"`)
	rowsField      = []byte(`"rows":`)
)

func (r *run) readSocket(ctx context.Context, c *websocket.Conn, began time.Time) error {
	first := true
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		r.msgBytes.Add(int64(len(data)))
		switch {
		case bytes.HasPrefix(data, snapshotPrefix):
			if first {
				r.firstChunk.add(now.Sub(began))
				first = false
			}
			r.snapRows.Add(int64(intAfter(data, rowsField)))
			r.snapBytes.Add(int64(len(data)))
		case bytes.HasPrefix(data, endPrefix):
			r.complete.add(now.Sub(began))
			r.snapDone.Add(1)
			r.lastSnapEnd.Store(int64(now.Sub(r.start)))
		case bytes.HasPrefix(data, changesPrefix):
			var m changesMsg
			if json.Unmarshal(data, &m) != nil {
				r.errs.add("malformed changes message")
				continue
			}
			for _, ch := range m.Changes {
				if ch.Op == "upsert" && ch.Ticket != nil {
					r.changes.Add(1)
					r.latency.add(max(0, now.Sub(ch.Ticket.UpdatedAt)))
				}
			}
		}
	}
}

// intAfter reads the whole number after the first field in data.
func intAfter(data, field []byte) int {
	i := bytes.Index(data[:min(len(data), 256)], field)
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range data[i+len(field):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// fetcher fetches its filter over REST, over and over, until the run ends.
func (r *run) fetcher(ctx context.Context, filter string) {
	u := r.url("/v1/tickets", filter)
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			r.errs.add("request: " + err.Error())
			return
		}
		if r.cfg.Token != "" {
			req.Header.Set("Authorization", "Bearer "+r.cfg.Token)
		}
		if !r.cfg.PlainREST {
			req.Header.Set("Accept-Encoding", "zstd, gzip")
		}
		began := time.Now()
		resp, err := r.http.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				r.errs.add("rest: " + errKind(err))
				sleep(ctx, 200*time.Millisecond)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.errs.add(fmt.Sprintf("rest status %d", resp.StatusCode))
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		body, closeBody, err := decodedBody(resp)
		if err != nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.errs.add("rest body: " + err.Error())
			continue
		}
		r.encoding.Store(resp.Header.Get("Content-Encoding"))
		var n int64
		var tail []byte
		firstByte := true
		for {
			k, err := body.Read(buf)
			if k > 0 {
				if firstByte {
					r.restFirst.add(time.Since(began))
					firstByte = false
				}
				n += int64(k)
				tail = append(tail[:0:0], buf[max(0, k-256):k]...)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					r.errs.add("rest body: " + errKind(err))
				}
				break
			}
		}
		closeBody()
		resp.Body.Close()
		if ctx.Err() != nil {
			return
		}
		r.restComplete.add(time.Since(began))
		r.fetches.Add(1)
		r.restBytes.Add(n)
		r.restRows.Add(int64(intAfter(tail[max(0, bytes.LastIndex(tail, []byte(`"count":`))):], []byte(`"count":`))))
	}
}

// writer changes tickets at the write rate.
func (r *run) writer(ctx context.Context) {
	t := time.NewTicker(time.Duration(float64(time.Second) / r.cfg.WriteRate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.cfg.Writer(ctx); err != nil {
			if ctx.Err() == nil {
				r.errs.add("write: " + truncate(err.Error(), 160))
			}
			continue
		}
		r.wrote.Add(1)
	}
}

// watchServer reads the server's memory from its /metrics every second,
// and reports progress.
func (r *run) watchServer(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		r.scrape(ctx)
		r.cfg.Progress(Progress{
			Elapsed: time.Since(r.start), Connected: int(r.connected.Load()), SnapshotDone: int(r.snapDone.Load()),
			Rows: r.snapRows.Load() + r.restRows.Load(), Changes: r.changes.Load(), Fetches: r.fetches.Load(),
			Errors: r.errs.total(), ServerRSS: r.rssEnd,
		})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *run) scrape(ctx context.Context) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if r.cfg.Metrics == nil {
		return
	}
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, r.cfg.Metrics.String(), nil)
	resp, err := r.http.Do(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.metricsErr = errKind(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.metricsErr = fmt.Sprintf("/metrics: HTTP %d", resp.StatusCode)
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			r.rssEnd = v
			r.rssPeak = max(r.rssPeak, v)
		case "go_memstats_heap_inuse_bytes":
			r.heapPk = max(r.heapPk, v)
		case "ticketstream_websocket_connections":
			r.connPeak = max(r.connPeak, v)
		}
	}
	r.metricsErr = ""
}

func (r *run) result() *Result {
	res := &Result{Target: r.cfg.Target.String(), Sockets: r.cfg.Sockets, Fetchers: r.cfg.Fetchers, Duration: time.Since(r.start)}
	s := &res.Snapshots
	s.Complete = int(r.snapDone.Load())
	s.Rows, s.Bytes = r.snapRows.Load(), r.snapBytes.Load()
	if end := time.Duration(r.lastSnapEnd.Load()); end > 0 {
		s.RowsPerSecond = float64(s.Rows) / end.Seconds()
		s.MBPerSecond = float64(s.Bytes) / 1e6 / end.Seconds()
	}
	s.FirstChunk, s.Completion = r.firstChunk.percentiles(), r.complete.percentiles()
	rest := &res.REST
	rest.Fetches, rest.Rows, rest.Bytes = r.fetches.Load(), r.restRows.Load(), r.restBytes.Load()
	rest.WireReceived = r.restWire.Bytes().Read
	rest.Encoding, _ = r.encoding.Load().(string)
	if r.cfg.Fetchers > 0 {
		rest.RowsPerSecond = float64(rest.Rows) / res.Duration.Seconds()
		rest.MBPerSecond = float64(rest.Bytes) / 1e6 / res.Duration.Seconds()
	}
	rest.FirstChunk, rest.Completion = r.restFirst.percentiles(), r.restComplete.percentiles()
	res.Changes.Received, res.Changes.Written = r.changes.Load(), r.wrote.Load()
	res.Changes.Latency = r.latency.percentiles()
	ws := &res.WebSocket
	wire := r.wire.Bytes()
	ws.CompressionOffered, ws.Dials, ws.Compressed = !r.cfg.DisableCompression, r.dials.Load(), r.compressed.Load()
	ws.MessageBytes, ws.WireReceived, ws.WireSent = r.msgBytes.Load(), wire.Read, wire.Written
	res.Errors = r.errs.snapshot()
	r.mu.Lock()
	res.Server.RSSPeak, res.Server.RSSEnd, res.Server.HeapPeak, res.Server.Connections, res.Server.MetricsError = r.rssPeak, r.rssEnd, r.heapPk, r.connPeak, r.metricsErr
	r.mu.Unlock()
	return res
}

// errKind shortens an error to its kind, so that errors group in the
// report: "connection refused", "timeout", "EOF", ….
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "connection reset"):
		return "connection reset"
	case strings.Contains(err.Error(), "too many open files"):
		return "too many open files"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// decodedBody returns resp's body decoded from its Content-Encoding, and a
// function that releases the decoder.
func decodedBody(resp *http.Response) (io.Reader, func(), error) {
	switch resp.Header.Get("Content-Encoding") {
	case "":
		return resp.Body, func() {}, nil
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case "zstd":
		zr, err := zstd.NewReader(resp.Body, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	default:
		return nil, nil, fmt.Errorf("unknown Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
}
