package restapi_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// TestServe_BoundsRequestHeaders: headers past MaxHeaderBytes are answered
// 431 as soon as they pass the bound, not buffered up to Go's default of a
// megabyte per connection (anyone who reaches the port, without a token,
// could pin that much memory per connection), and headers within it are
// served.
func TestServe_BoundsRequestHeaders(t *testing.T) {
	streamer, err := app.NewStreamer(&portstest.Source{Tickets: demodata.New(1).Tickets(3)}, app.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := restapi.New(restapi.Config{}, streamer, noStore{}, testCursors, openAccess{}, restapi.Mounts{Stream: http.NotFoundHandler()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { ln.Close() })
	tests := []struct {
		name   string
		header int // bytes of one header's value
		want   int
	}{
		{"a large token", 8 << 10, http.StatusOK},
		{"past the bound", restapi.MaxHeaderBytes + 8<<10, http.StatusRequestHeaderFieldsTooLarge},
		{"a megabyte", 1 << 20, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			// The write of a megabyte may fail once the server has answered
			// and closed: the answer is what is checked.
			go fmt.Fprintf(c, "GET /v1/tickets?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: %s\r\n\r\n", strings.Repeat("a", tc.header))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
