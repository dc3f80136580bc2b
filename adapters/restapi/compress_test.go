package restapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/app/apptest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// rawClient leaves Content-Encoding to the test: Go's transport decodes
// gzip only when it asked for it itself.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// fetch GETs path with the Accept and Accept-Encoding given ("" for none)
// and returns the response with its body read whole, still encoded.
func fetch(t *testing.T, url, accept, encoding string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// decoder returns a reader of r decoded from the response's
// Content-Encoding.
func decoder(t *testing.T, contentEncoding string, r io.Reader) io.Reader {
	t.Helper()
	switch contentEncoding {
	case "":
		return r
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return zr
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	t.Fatalf("Content-Encoding %q", contentEncoding)
	return nil
}

func decode(t *testing.T, resp *http.Response, body []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(decoder(t, resp.Header.Get("Content-Encoding"), bytes.NewReader(body)))
	if err != nil {
		t.Fatalf("decode %s: %v", resp.Header.Get("Content-Encoding"), err)
	}
	return out
}

// TestListTickets_CompressedIsTheSameDocument: each coding, in both forms,
// decodes to exactly the bytes of the uncompressed response, with the same
// trailers; it says its coding and Vary, and has no Content-Length.
func TestListTickets_CompressedIsTheSameDocument(t *testing.T) {
	t.Parallel()
	srv, streamer := newServer(t, &portstest.Source{Tickets: demodata.New(3).Tickets(700)})
	for _, form := range []string{"application/json", "application/x-ndjson"} {
		for _, path := range []string{"/v1/tickets?limit=500", "/v1/tickets?limit=500&status=closed"} {
			plainResp, plain := fetch(t, srv.URL+path, form, "")
			if plainResp.StatusCode != 200 || len(plain) < 1000 || plainResp.Header.Get("Content-Encoding") != "" {
				t.Fatalf("%s %s uncompressed: %d, %d bytes, Content-Encoding %q", form, path, plainResp.StatusCode, len(plain), plainResp.Header.Get("Content-Encoding"))
			}
			for _, tc := range []struct{ accept, want string }{
				{"gzip", "gzip"}, {"zstd", "zstd"}, {"gzip, deflate, br, zstd", "zstd"}, {"zstd;q=0.5, gzip", "gzip"},
			} {
				resp, body := fetch(t, srv.URL+path, form, tc.accept)
				if got := resp.Header.Get("Content-Encoding"); got != tc.want {
					t.Fatalf("%s %s, Accept-Encoding %q: Content-Encoding %q, want %q", form, path, tc.accept, got, tc.want)
				}
				if resp.Header.Get("Vary") != "Accept-Encoding" || resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
					t.Fatalf("%s %s: Vary %q, Content-Length %d", form, path, resp.Header.Get("Vary"), resp.ContentLength)
				}
				if got := decode(t, resp, body); !bytes.Equal(got, plain) {
					t.Fatalf("%s %s in %s: decoded %d bytes differ from the %d uncompressed", form, path, tc.want, len(got), len(plain))
				}
				if len(body) >= len(plain)/2 {
					t.Fatalf("%s %s in %s: %d bytes for %d uncompressed", form, path, tc.want, len(body), len(plain))
				}
				for _, name := range []string{restapi.TrailerCount, restapi.TrailerNextCursor, restapi.TrailerError} {
					if got, want := resp.Trailer.Get(name), plainResp.Trailer.Get(name); got != want {
						t.Fatalf("%s %s in %s: trailer %s %q, uncompressed %q", form, path, tc.want, name, got, want)
					}
				}
				if form == "application/x-ndjson" && resp.Trailer.Get(restapi.TrailerCount) == "" {
					t.Fatalf("%s in %s: no count trailer", path, tc.want)
				}
			}
		}
	}
	if n := streamer.PoolStats().InUse(); n != 0 {
		t.Fatalf("%d buffers in use", n)
	}
}

// TestListTickets_CompressedStreamFailingMidwayStillEnds: a stream that
// breaks after its status still ends its compressed body properly, with
// the error in the document or in the trailer.
func TestListTickets_CompressedStreamFailingMidwayStillEnds(t *testing.T) {
	t.Parallel()
	srv, streamer := newServer(t, &portstest.Source{Tickets: demodata.New(1).Tickets(500), Err: errors.New("connection reset"), FailAfter: 200})
	for _, coding := range []string{"gzip", "zstd"} {
		resp, body := fetch(t, srv.URL+"/v1/tickets", "", coding)
		var doc struct {
			Tickets []json.RawMessage `json:"tickets"`
			Error   *struct{ Code string }
		}
		if err := json.Unmarshal(decode(t, resp, body), &doc); err != nil || doc.Error == nil || doc.Error.Code != "internal" || len(doc.Tickets) == 0 {
			t.Fatalf("%s: %v, %+v: want a complete document ending with an error", coding, err, doc.Error)
		}
		resp, body = fetch(t, srv.URL+"/v1/tickets", "application/x-ndjson", coding)
		if lines := bytes.Count(decode(t, resp, body), []byte("\n")); lines == 0 || resp.Trailer.Get(restapi.TrailerError) == "" {
			t.Fatalf("%s NDJSON: %d lines, error trailer %q", coding, lines, resp.Trailer.Get(restapi.TrailerError))
		}
	}
	if n := streamer.PoolStats().InUse(); n != 0 {
		t.Fatalf("%d buffers in use", n)
	}
}

// heldSource hands out its first batch, then holds the stream until
// release is closed or the request ends.
func heldSource(tickets []domain.Ticket, release <-chan struct{}) *portstest.Source {
	return &portstest.Source{StreamTicketsFn: func(ctx context.Context, _ domain.Query, _ int, h ports.BatchHandler) error {
		if err := h.HandleBatch(tickets[:100]); err != nil {
			return err
		}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return h.HandleBatch(tickets[100:])
	}}
}

// TestListTickets_CompressedRowsArriveBeforeTheStreamEnds: each chunk is
// flushed through the encoder, so a client decodes the first rows while the
// database is still reading; and a client that leaves mid-stream gets every
// buffer given back.
func TestListTickets_CompressedRowsArriveBeforeTheStreamEnds(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(5).Tickets(300)
	for _, coding := range []string{"gzip", "zstd"} {
		for _, leave := range []bool{false, true} {
			release := make(chan struct{})
			srv, streamer := newServer(t, heldSource(tickets, release))
			req, _ := http.NewRequest("GET", srv.URL+"/v1/tickets", nil)
			req.Header.Set("Accept", "application/x-ndjson")
			req.Header.Set("Accept-Encoding", coding)
			resp, err := rawClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewReader(decoder(t, resp.Header.Get("Content-Encoding"), resp.Body))
			var first domain.Ticket
			if line, err := lines.ReadBytes('\n'); err != nil || json.Unmarshal(line, &first) != nil || first.ID == 0 {
				t.Fatalf("%s: the first row while the stream is held: %q, %v", coding, line, err)
			}
			if leave {
				resp.Body.Close()
				waitFor(t, func() bool { return streamer.PoolStats().InUse() == 0 })
				close(release)
				continue
			}
			close(release)
			n := 1
			for {
				if _, err := lines.ReadBytes('\n'); err != nil {
					if err != io.EOF {
						t.Fatalf("%s: after %d rows: %v", coding, n, err)
					}
					break
				}
				n++
			}
			resp.Body.Close()
			if n != len(tickets) || resp.Trailer.Get(restapi.TrailerCount) != "300" {
				t.Fatalf("%s: %d rows, count trailer %q", coding, n, resp.Trailer.Get(restapi.TrailerCount))
			}
			if n := streamer.PoolStats().InUse(); n != 0 {
				t.Fatalf("%d buffers in use", n)
			}
		}
	}
}

// oneStore holds one ticket.
type oneStore struct {
	noStore
	t domain.Ticket
}

func (s oneStore) Ticket(_ context.Context, id int64) (domain.Ticket, error) {
	if id != s.t.ID {
		return s.noStore.Ticket(context.Background(), id)
	}
	return s.t, nil
}

// TestRoutes_CompressOnlyWhatPays: ticket lists and bodies past the
// threshold (the OpenAPI document) are compressed; a single ticket, an
// error and a health check are not, and a bogus Accept-Encoding or
// compression turned off gets the plain answer, never an error. Vary is set
// wherever the answer could depend on Accept-Encoding.
func TestRoutes_CompressOnlyWhatPays(t *testing.T) {
	t.Parallel()
	tk := demodata.New(2).Tickets(1)[0]
	start := func(cfg restapi.Config) *httptest.Server {
		streamer, err := app.NewStreamer(&portstest.Source{Tickets: demodata.New(2).Tickets(50)}, apptest.Poisoned(app.Config{ChunkThreshold: 2048}))
		if err != nil {
			t.Fatal(err)
		}
		s, err := restapi.New(cfg, streamer, oneStore{t: tk}, testCursors, openAccess{}, restapi.Mounts{Stream: http.NotFoundHandler()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		return srv
	}
	on, off, gzipOnly := start(restapi.Config{}), start(restapi.Config{Compression: "off"}), start(restapi.Config{Compression: "gzip"})
	ticket := "/v1/tickets/" + jsonNumber(tk.ID)
	tests := []struct {
		name     string
		srv      *httptest.Server
		path     string
		encoding string
		status   int
		coding   string
		vary     bool
	}{
		{"list", on, "/v1/tickets", "gzip", 200, "gzip", true},
		{"list, nothing accepted", on, "/v1/tickets", "br;q=1, gzip;q=0", 200, "", true},
		{"list, bogus header", on, "/v1/tickets", ";;q=zz,,=,gzip;q=7, zstd;q=-1, *;q=abc, identity;q=0", 200, "", true},
		{"list, compression off", off, "/v1/tickets", "gzip, zstd", 200, "", false},
		{"list, gzip only", gzipOnly, "/v1/tickets", "zstd, gzip;q=0.1", 200, "gzip", true},
		{"openapi", on, "/v1/openapi.json", "zstd", 200, "zstd", true},
		{"openapi, compression off", off, "/v1/openapi.json", "zstd", 200, "", false},
		{"one ticket, below the threshold", on, ticket, "gzip", 200, "", true},
		{"not found", on, "/v1/tickets/999999", "gzip", 404, "", false},
		{"bad filter", on, "/v1/tickets?status=opne", "gzip", 400, "", false},
		{"healthz", on, "/healthz", "gzip", 200, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := fetch(t, tc.srv.URL+tc.path, "", tc.encoding)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Encoding") != tc.coding {
				t.Fatalf("%d, Content-Encoding %q; want %d, %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), tc.status, tc.coding)
			}
			if got := resp.Header.Get("Vary") == "Accept-Encoding"; got != tc.vary && tc.status == 200 {
				t.Fatalf("Vary %q, want it: %v", resp.Header.Get("Vary"), tc.vary)
			}
			if !json.Valid(decode(t, resp, body)) && tc.path != "/v1/tickets" {
				t.Fatalf("body does not decode to JSON: %.200q", body)
			}
		})
	}
	resp, body := fetch(t, on.URL+"/v1/openapi.json", "", "gzip")
	if got := decode(t, resp, body); !bytes.Equal(got, restapi.OpenAPI) {
		t.Fatalf("the compressed OpenAPI document decodes to %d bytes, not the %d served", len(got), len(restapi.OpenAPI))
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
