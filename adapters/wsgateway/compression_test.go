package wsgateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
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
				if !bytes.Equal(plain.msgs[i], deflate.msgs[i]) {
					t.Fatalf("message %d differs:\nplain    %.300s\ndeflated %.300s", i, plain.msgs[i], deflate.msgs[i])
				}
			}
			f.waitHubIdle(t)
		})
	}
}
