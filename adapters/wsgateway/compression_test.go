package wsgateway_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// negotiated is the server's answer to an offer of permessage-deflate:
// no context takeover either way, whatever the client asked.
const negotiated = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"

func TestCompression_NegotiatedOnlyWhenOfferedAndOn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  wsgateway.Options
		offer string // the client's Sec-WebSocket-Extensions
		want  string // the server's
	}{
		{"no context takeover offered", wsgateway.Options{}, deflateOffer, negotiated},
		{"a browser's offer", wsgateway.Options{}, "permessage-deflate; client_max_window_bits", negotiated},
		{"context takeover offered", wsgateway.Options{}, "permessage-deflate", negotiated},
		{"nothing offered", wsgateway.Options{}, "", ""},
		{"an unknown extension offered", wsgateway.Options{}, "x-webkit-deflate-frame", ""},
		{"offered, compression off", wsgateway.Options{DisableCompression: true}, deflateOffer, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, demodata.New(31).Tickets(40), tc.opts)
			c := dialBench(t, strings.TrimPrefix(f.srv.URL, "http://"), "", "admin", tc.offer, `{"type":"end"`)
			defer c.Close()
			if c.Extensions != tc.want {
				t.Fatalf("Sec-WebSocket-Extensions = %q, want %q", c.Extensions, tc.want)
			}
			awaitSeen(t, c)
		})
	}
}

// awaitSeen waits until c has decoded the message it watches for.
func awaitSeen(t *testing.T, c *rawClient) {
	t.Helper()
	portstest.Await(t, "the snapshot's end", c.seen.Load)
}

func TestCompression_GoClientOffersItByDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    wsgateway.Options
		options []wsclient.Option
		want    bool
	}{
		{"default", wsgateway.Options{}, nil, true},
		{"client turns it off", wsgateway.Options{}, []wsclient.Option{wsclient.WithoutCompression()}, false},
		{"server turns it off", wsgateway.Options{DisableCompression: true}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(32).Tickets(200)
			f := newFixture(t, tickets, tc.opts)
			var wire wsclient.WireCounter
			view := &wsclient.View{}
			c, err := wsclient.Dial(context.Background(), f.base(), "", "admin", view, append(tc.options, wsclient.WithHTTPClient(wire.HTTPClient()))...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Conn.CloseNow()
			if c.Compressed != tc.want {
				t.Fatalf("compressed = %v, want %v", c.Compressed, tc.want)
			}
			waitView(t, c, f.feed, domain.Query{})
			if got := wire.Bytes(); got.Read == 0 || got.Written == 0 {
				t.Fatalf("wire bytes %+v: the counter saw nothing", got)
			}
			c.Close()
		})
	}
}

// recorder is a socket whose messages are kept as received, and whose
// bytes on the wire are counted.
type recorder struct {
	conn *websocket.Conn
	wire *wsclient.WireCounter
	msgs [][]byte
}

func record(t *testing.T, url string, mode websocket.CompressionMode) *recorder {
	t.Helper()
	r := &recorder{wire: &wsclient.WireCounter{}}
	c, resp, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer admin"}}, Subprotocols: []string{wsgateway.Subprotocol},
		CompressionMode: mode, HTTPClient: r.wire.HTTPClient(),
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Extensions") != ""; got != (mode != websocket.CompressionDisabled) {
		t.Fatalf("extensions %q for mode %v", resp.Header.Get("Sec-WebSocket-Extensions"), mode)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	r.conn = c
	return r
}

// readUntil reads messages until one starts with prefix, and returns the
// bytes on the wire they took.
func (r *recorder) readUntil(t *testing.T, prefix string) int64 {
	t.Helper()
	ctx := context.Background()
	if deadline, ok := portstest.Deadline(t); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	before := r.wire.Bytes().Read
	for {
		_, data, err := r.conn.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if !json.Valid(data) {
			t.Fatalf("a message that is not JSON: %q", data)
		}
		r.msgs = append(r.msgs, data)
		if bytes.HasPrefix(data, []byte(prefix)) {
			return r.wire.Bytes().Read - before
		}
	}
}

func TestCompression_MessagesArriveIdentical(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		threshold    int
		compressLive bool
		// Whether the snapshot, a live change of 1 ticket and one of 16
		// should take fewer bytes on the wire than plain.
		snapshotCompressed, smallCompressed, largeCompressed bool
	}{
		{"default: live changes plain, whatever their size", 0, false, true, false, false},
		{"live changes compressed above the threshold", 0, true, true, false, true},
		{"every message compressed", 1, true, true, true, true},
		{"threshold 1, live changes still plain", 1, false, true, false, false},
		{"threshold above every message", 1 << 20, true, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(33).Tickets(500)
			f := newFixture(t, tickets, wsgateway.Options{CompressionThreshold: tc.threshold, CompressLiveChanges: tc.compressLive})
			plain := record(t, f.url(""), websocket.CompressionDisabled)
			deflate := record(t, f.url(""), websocket.CompressionNoContextTakeover)
			snapPlain, snapDeflate := plain.readUntil(t, `{"type":"end"`), deflate.readUntil(t, `{"type":"end"`)
			// A snapshot message is a 4 KB chunk of the fixture's core.
			if compressed := snapDeflate < snapPlain*3/4; compressed != tc.snapshotCompressed {
				t.Errorf("snapshot: %d bytes on the wire compressed, %d plain", snapDeflate, snapPlain)
			}
			for _, n := range []int{1, 16} {
				for i := range tickets[:n] {
					tickets[i] = touch(tickets[i], fmt.Sprintf("changed with %d others", n))
				}
				f.feed.Put(tickets[:n]...)
				p, d := plain.readUntil(t, `{"type":"changes"`), deflate.readUntil(t, `{"type":"changes"`)
				want := tc.largeCompressed
				if n == 1 {
					want = tc.smallCompressed
				}
				if compressed := d < p; compressed != want {
					t.Errorf("a change of %d tickets: %d bytes on the wire compressed, %d plain; want compressed %v", n, d, p, want)
				}
			}
			if len(plain.msgs) != len(deflate.msgs) {
				t.Fatalf("%d messages plain, %d compressed", len(plain.msgs), len(deflate.msgs))
			}
			for i := range plain.msgs {
				// Each sealing of a cursor gives another text (a nonce):
				// what they hold is compared.
				p, d := openCursors(t, f, plain.msgs[i]), openCursors(t, f, deflate.msgs[i])
				if !bytes.Equal(p, d) {
					t.Fatalf("message %d differs:\nplain    %.300s\ndeflated %.300s", i, p, d)
				}
			}
			f.waitHubIdle(t)
		})
	}
}

// A socket whose client sent a compressed message keeps nothing of its
// inflater once the message is read: idle, it costs what it did before.
// (coder/websocket v1.8.15 kept a 4 KB read buffer per such socket for its
// life; third_party/coder-websocket gives it back.)
func TestCompression_IdleSocketKeepsNoReadBuffer(t *testing.T) {
	const sockets = 300
	_, clients := benchGateway(t, sockets, true, wsgateway.Options{})
	resubscribe(t, clients, false)
	plain := heapAndStacks()
	resubscribe(t, clients, true)
	compressed := heapAndStacks()
	grew := (compressed - plain) / sockets
	if grew > 2048 {
		t.Fatalf("each socket kept %.0f bytes more after its client sent a compressed message, want under 2 KB", grew)
	}
	t.Logf("each socket holds %+.0f bytes after its client sent a compressed message", grew)
}

// A compressed message that does not inflate closes the socket with 1007
// and a reason, as does one that leans on an earlier message's window
// after the server asked for client_no_context_takeover.
func TestCompression_BadCompressedMessageCloses1007(t *testing.T) {
	t.Parallel()
	subscribe := []byte(`{"type":"subscribe","query":"status=open"}`)
	for _, tc := range []struct {
		name    string
		payload func() []byte
	}{
		{"not deflate at all", func() []byte { return []byte{0xff, 0xfe, 0xfd, 0xfc, 0xfb} }},
		{"a back-reference before the message's start", func() []byte {
			// Deflate subscribe twice in one stream and send only the
			// second half, which copies from the first.
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, flate.BestCompression)
			w.Write(subscribe)
			w.Flush()
			first := buf.Len()
			w.Write(subscribe)
			w.Flush()
			second := buf.Bytes()[first:]
			var corrupt flate.CorruptInputError
			if _, err := io.ReadAll(flate.NewReader(bytes.NewReader(second))); !errors.As(err, &corrupt) {
				t.Fatalf("the second half alone: %v, want it corrupt (a back-reference to test with)", err)
			}
			return bytes.TrimSuffix(second, []byte("\x00\x00\xff\xff"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, demodata.New(5).Tickets(3), wsgateway.Options{})
			c := dialBench(t, strings.TrimPrefix(f.srv.URL, "http://"), "", "admin", deflateOffer, `{"type":"end"`)
			defer c.Close()
			portstest.Await(t, "the snapshot's end", c.seen.Load)
			c.sendRaw(t, true, tc.payload())
			code, reason := c.awaitClose(t)
			if code != 1007 || reason == "" {
				t.Fatalf("closed with %d %q, want 1007 with a reason", code, reason)
			}
		})
	}
}

// Clients that close in the middle of a fragmented compressed message,
// many at once: the server's reader must not give the inflater it is still
// using back to the pool another socket takes it from (a data race in
// coder/websocket v1.8.15, patched in third_party/coder-websocket; -race
// reports it here without the patch).
func TestCompression_CloseInsideACompressedMessage(t *testing.T) {
	t.Parallel()
	opts := wsgateway.Options{SubscribeBurst: 1000, SubscribesPerSecond: 1000}
	f := newFixture(t, demodata.New(7).Tickets(20), opts)
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write([]byte(`{"type":"subscribe","query":"status=open"}`))
	w.Flush()
	z := bytes.TrimSuffix(buf.Bytes(), []byte("\x00\x00\xff\xff"))
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			c := dialBench(t, addr, "", "admin", deflateOffer, `{"type":"end"`)
			defer c.Close()
			for range 3 {
				c.sendFrame(t, true, true, 1, z)
			}
			c.sendFrame(t, false, true, 1, z[:len(z)/2]) // the first half of a message…
			c.sendFrame(t, true, false, 8, []byte{0x03, 0xe8})
			if code, _ := c.awaitClose(t); code != 1000 {
				t.Errorf("closed with %d, want 1000 (the client's close echoed)", code)
			}
		})
	}
	wg.Wait()
}

// cursorField matches a message's cursor.
var cursorField = regexp.MustCompile(`"cursor":"([A-Za-z0-9_-]+)"`)

// openCursors returns msg with each live cursor replaced by what it
// holds.
func openCursors(t *testing.T, f *fixture, msg []byte) []byte {
	t.Helper()
	return cursorField.ReplaceAllFunc(msg, func(m []byte) []byte {
		text := string(cursorField.FindSubmatch(m)[1])
		c, err := f.cursors.OpenLiveCursor(text)
		if err != nil {
			t.Fatalf("cursor %q: %v", text, err)
		}
		return fmt.Appendf(nil, `"cursor":%q`, fmt.Sprintf("%+v", c))
	})
}
