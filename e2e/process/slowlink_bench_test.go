package process

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/e2e"
)

// BenchmarkSlowLink loads a 50,000-ticket view through a shaped link —
// 20 Mbit/s toward the client, 40 ms round trip (Toxiproxy, in this
// process) — over REST and WebSocket, compressed and not, and reports the
// time to the first row and to the last, the bytes on the wire and the
// server's CPU per MB it sent:
//
//	go test -run '^$' -bench SlowLink -benchtime 1x -v ./e2e/process
func BenchmarkSlowLink(b *testing.B) {
	const rows = 50_000
	db := seedDatabase(b, rows)
	p := e2e.StartProcess(b, "--database", db, "--demo-tickets", "0", "--max-rows", strconv.Itoa(rows))
	link := e2e.StartSlowLink(b, p.Addr, e2e.Link{DownKBps: 2500, OneWay: 20 * time.Millisecond})
	for _, tc := range []struct {
		name  string
		fetch func(context.Context, *wsclient.WireCounter, string) (download, error)
	}{
		{"rest-identity", restDownload("")},
		{"rest-gzip", restDownload("gzip")},
		{"rest-zstd", restDownload("zstd")},
		{"ws-plain", socketDownload(websocket.CompressionDisabled)},
		{"ws-deflate", socketDownload(websocket.CompressionNoContextTakeover)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				var wire wsclient.WireCounter
				cpu := cpuTime(b, p.Pid())
				d, err := tc.fetch(context.Background(), &wire, link)
				if err != nil {
					b.Fatal(err)
				}
				cpu = cpuTime(b, p.Pid()) - cpu
				if d.rows != rows {
					b.Fatalf("%d rows, want %d", d.rows, rows)
				}
				mb := float64(wire.Bytes().Read) / 1e6
				b.ReportMetric(d.first.Seconds()*1000, "ms-first-row")
				b.ReportMetric(d.all.Seconds(), "s-all-rows")
				b.ReportMetric(mb, "MB-on-wire")
				b.ReportMetric(cpu.Seconds()*1000/mb, "server-CPU-ms/MB")
				b.Logf("%-13s first row %6.0f ms, all %d rows %5.2f s, %6.2f MB on the wire, server CPU %4.0f ms (%5.1f ms per MB sent)",
					tc.name, d.first.Seconds()*1000, d.rows, d.all.Seconds(), mb, cpu.Seconds()*1000, cpu.Seconds()*1000/mb)
			}
		})
	}
}

// download is what one client saw of one view.
type download struct {
	first, all time.Duration
	rows       int
}

// restDownload fetches the view as one REST response, asking for the
// encoding ("" for none) and decoding it as it arrives.
func restDownload(encoding string) func(context.Context, *wsclient.WireCounter, string) (download, error) {
	return func(ctx context.Context, wire *wsclient.WireCounter, addr string) (download, error) {
		client := wire.HTTPClient()
		defer client.CloseIdleConnections()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/tickets", nil)
		if err != nil {
			return download{}, err
		}
		// Set always: left unset, net/http would ask for gzip itself and
		// decode it out of sight.
		req.Header.Set("Accept-Encoding", cmp.Or(encoding, "identity"))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return download{}, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return download{}, fmt.Errorf("REST: %s", resp.Status)
		}
		if got := resp.Header.Get("Content-Encoding"); got != encoding {
			return download{}, fmt.Errorf("REST: Content-Encoding %q, want %q", got, encoding)
		}
		body := io.Reader(resp.Body)
		switch encoding {
		case "gzip":
			if body, err = gzip.NewReader(resp.Body); err != nil {
				return download{}, err
			}
		case "zstd":
			zr, err := zstd.NewReader(resp.Body)
			if err != nil {
				return download{}, err
			}
			defer zr.Close()
			body = zr
		}
		var d download
		buf := make([]byte, 64<<10)
		var tail []byte
		for {
			n, err := body.Read(buf)
			if n > 0 {
				if d.first == 0 && bytes.Contains(buf[:n], []byte(`"id":`)) {
					d.first = time.Since(start)
				}
				tail = append(tail[:0], buf[max(0, n-512):n]...)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return download{}, err
			}
		}
		d.all = time.Since(start)
		i := bytes.LastIndex(tail, []byte(`"count":`))
		if i < 0 {
			return download{}, fmt.Errorf("REST: no count at the end: %q", tail)
		}
		d.rows, _ = strconv.Atoi(string(tail[i+8 : i+8+bytes.IndexAny(tail[i+8:], ",}")]))
		return d, nil
	}
}

// socketDownload reads the view's snapshot over WebSocket, offering
// permessage-deflate unless mode is CompressionDisabled.
func socketDownload(mode websocket.CompressionMode) func(context.Context, *wsclient.WireCounter, string) (download, error) {
	return func(ctx context.Context, wire *wsclient.WireCounter, addr string) (download, error) {
		client := wire.HTTPClient()
		defer client.CloseIdleConnections()
		start := time.Now()
		c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/v1/stream", &websocket.DialOptions{
			Subprotocols:    []string{"ticketstream.v1"},
			HTTPClient:      client,
			CompressionMode: mode,
		})
		if err != nil {
			return download{}, err
		}
		defer c.CloseNow()
		negotiated := resp.Header.Get("Sec-WebSocket-Extensions") != ""
		if negotiated != (mode != websocket.CompressionDisabled) {
			return download{}, fmt.Errorf("socket: compression negotiated %v (%q), want %v", negotiated, resp.Header.Get("Sec-WebSocket-Extensions"), !negotiated)
		}
		c.SetReadLimit(16 << 20)
		var d download
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return download{}, err
			}
			if bytes.HasPrefix(data, []byte(`{"type":"end"`)) {
				d.all = time.Since(start)
				return d, nil
			}
			if bytes.HasPrefix(data, []byte(`{"type":"snapshot"`)) {
				if d.first == 0 {
					d.first = time.Since(start)
				}
				i := bytes.Index(data, []byte(`"rows":`)) + 7
				k := 0
				for ; data[i] >= '0' && data[i] <= '9'; i++ {
					k = k*10 + int(data[i]-'0')
				}
				d.rows += k
			}
		}
	}
}
