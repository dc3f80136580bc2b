package restapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// countingWriter is an http.ResponseWriter that keeps only the number of
// body bytes written: the cost measured is the server's, not a client's.
type countingWriter struct {
	h      http.Header
	n      int64
	status int
}

func (w *countingWriter) Header() http.Header         { return w.h }
func (w *countingWriter) WriteHeader(status int)      { w.status = status }
func (w *countingWriter) Write(b []byte) (int, error) { w.n += int64(len(b)); return len(b), nil }
func (w *countingWriter) Flush()                      {}

// SetWriteDeadline lets the sink set its per-chunk deadline, as on a
// connection.
func (w *countingWriter) SetWriteDeadline(time.Time) error { return nil }

func (w *countingWriter) reset() {
	clear(w.h)
	w.n, w.status = 0, 0
}

// BenchmarkPage_Codings serves a page of 1000 demo tickets, as the JSON
// document and as NDJSON, uncompressed (the baseline) and in each coding,
// and reports the bytes per page, the compression ratio against the
// baseline, and the time per row: what compression costs the server and
// saves the link.
func BenchmarkPage_Codings(b *testing.B) {
	const rows = 1000
	streamer, err := app.NewStreamer(&portstest.Source{Tickets: demodata.New(1).Tickets(rows)}, app.Config{})
	if err != nil {
		b.Fatal(err)
	}
	s, err := restapi.New(restapi.Config{}, streamer, noStore{}, testCursors, openAccess{}, restapi.Mounts{Stream: http.NotFoundHandler()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	serve := func(w *countingWriter, accept, encoding string) {
		req := httptest.NewRequest("GET", "http://127.0.0.1/v1/tickets?limit=1000", nil)
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Encoding", encoding)
		w.reset()
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	for _, form := range []struct{ name, accept string }{{"json", "application/json"}, {"ndjson", "application/x-ndjson"}} {
		base := &countingWriter{h: http.Header{}}
		serve(base, form.accept, "")
		for _, coding := range []string{"identity", "gzip", "zstd"} {
			b.Run(form.name+"/"+coding, func(b *testing.B) {
				w := &countingWriter{h: http.Header{}}
				req := httptest.NewRequest("GET", "http://127.0.0.1/v1/tickets?limit=1000", nil)
				req.Header.Set("Accept", form.accept)
				req.Header.Set("Accept-Encoding", coding)
				serve(w, form.accept, coding) // warm the pools
				b.ReportAllocs()
				for b.Loop() {
					w.reset()
					h.ServeHTTP(w, req)
				}
				b.ReportMetric(float64(w.n), "B/page")
				b.ReportMetric(float64(base.n)/float64(w.n), "ratio")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
			})
		}
	}
}
