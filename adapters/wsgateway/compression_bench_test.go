package wsgateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// benchMessage is a server message of a benchmark, in the gateway's format.
type benchMessage struct {
	name string
	data []byte
}

// realMessages builds the gateway's messages from demo tickets, at the
// sizes a dashboard receives: live changes of 1 to 16 tickets, and
// snapshot messages of 4 KB to 32 KB of tickets (the core's chunk
// threshold). The cursor is sealed as the server seals it: a MAC, which
// no compressor shrinks.
func realMessages(tb testing.TB) []benchMessage {
	tb.Helper()
	sealer, err := domain.NewCursorSealer([]byte(testCursorKey))
	if err != nil {
		tb.Fatal(err)
	}
	cursor := sealer.LiveCursorString(domain.LiveCursor{Filter: 5, Cluster: 11, Watermark: domain.ChangePos{Xmax: 900_000}, Live: domain.ChangePos{Xmax: 950_000, Seq: 950_000, ID: 31_337}})
	tickets := demodata.New(7).Tickets(400)
	var out []benchMessage
	for _, n := range []int{1, 2, 4, 8, 16} {
		var b strings.Builder
		fmt.Fprintf(&b, `{"type":"changes","sub":1,"cursor":%q,"counts":{"total":50000,"status":{"open":12873,"pending":4410}},"changes":[`, cursor)
		for i, t := range tickets[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			row, _ := json.Marshal(t)
			fmt.Fprintf(&b, `{"op":"upsert","ticket":%s}`, row)
		}
		b.WriteString("]}")
		out = append(out, benchMessage{fmt.Sprintf("changes=%d", n), []byte(b.String())})
	}
	for _, kb := range []int{4, 8, 32} {
		var rows []byte
		n := 0
		for _, t := range tickets {
			if len(rows) > kb<<10 {
				break
			}
			if n > 0 {
				rows = append(rows, ',')
			}
			row, _ := json.Marshal(t)
			rows = append(rows, row...)
			n++
		}
		msg := fmt.Sprintf(`{"type":"snapshot","sub":1,"seq":3,"rows":%d,"cursor":%q,"tickets":[%s]}`, n, cursor, rows)
		out = append(out, benchMessage{fmt.Sprintf("snapshot=%dKB", kb), []byte(msg)})
	}
	return out
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCompression_PerMessage writes one message over and over to one
// socket, compressed (permessage-deflate, no context takeover, every
// message compressed whatever its size) and plain, and reports the bytes
// on the wire per message (frame header included) and the CPU it took:
// ns/op is the server's write, cpu-ns/msg the process's CPU (the client
// only counts bytes and splits frames). Where saved bytes stop paying for
// the CPU is where the default threshold goes. Run:
//
//	go test -run '^$' -bench Compression_PerMessage -benchtime 2000x ./adapters/wsgateway
func BenchmarkCompression_PerMessage(b *testing.B) {
	for _, m := range realMessages(b) {
		for _, deflate := range []bool{false, true} {
			name := m.name + "/plain"
			if deflate {
				name = m.name + "/deflate"
			}
			b.Run(name, func(b *testing.B) {
				ws, client := rawPair(b, deflate)
				ctx := context.Background()
				base := client.wire.Load()
				b.SetBytes(int64(len(m.data)))
				b.ReportAllocs()
				cpu := processCPU()
				n := 0
				for b.Loop() {
					if err := ws.Write(ctx, websocket.MessageText, m.data); err != nil {
						b.Fatal(err)
					}
					n++
				}
				portstest.Await(b, "every message to arrive", func() bool { return client.messages.Load() >= int64(n) })
				cpu = processCPU() - cpu
				wire := float64(client.wire.Load()-base) / float64(n)
				b.ReportMetric(wire, "wire-B/msg")
				b.ReportMetric(wire/float64(len(m.data)), "wire/size")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/msg")
				ws.CloseNow()
				client.Close()
			})
		}
	}
}

// rawPair upgrades a raw client to a server that accepts with the
// gateway's compression mode and compresses every message (threshold 1),
// or refuses compression, and returns the server's end.
func rawPair(b *testing.B, deflate bool) (*websocket.Conn, *rawClient) {
	b.Helper()
	conns := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := &websocket.AcceptOptions{Subprotocols: []string{"ticketstream.v1"}, CompressionMode: websocket.CompressionDisabled}
		if deflate {
			opts.CompressionMode, opts.CompressionThreshold = websocket.CompressionNoContextTakeover, 1
		}
		ws, err := websocket.Accept(w, r, opts)
		if err != nil {
			b.Error(err)
			close(conns)
			return
		}
		conns <- ws
	}))
	b.Cleanup(srv.Close)
	client := dialBench(b, strings.TrimPrefix(srv.URL, "http://"), "", "admin", offerIf(deflate), "")
	client.decode.Store(false)
	ws, ok := <-conns
	if !ok {
		b.FailNow()
	}
	if got := client.Extensions != ""; got != deflate {
		b.Fatalf("extensions %q negotiated, want compression %v", client.Extensions, deflate)
	}
	return ws, client
}
