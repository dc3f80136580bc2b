package writersink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/writersink"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

func TestSink_MeetsChunkSinkContract(t *testing.T) {
	t.Parallel()
	portstest.TestChunkSinkContract(t, func(t *testing.T) (ports.ChunkSink, func() [][]byte) {
		var buf bytes.Buffer
		s := writersink.New(&buf, writersink.NDJSON)
		return s, func() [][]byte {
			if buf.Len() == 0 {
				return nil
			}
			return bytes.Split(buf.Bytes(), []byte{'\n'})
		}
	})
}

func TestSink_WritesValidDocumentsThroughTheCore(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(2).Tickets(700)
	for _, format := range []writersink.Format{writersink.NDJSON, writersink.JSONArray} {
		for _, n := range []int{0, 1, 700} {
			var buf bytes.Buffer
			sink := writersink.New(&buf, format)
			s, err := app.NewStreamer(&portstest.Source{Tickets: tickets[:n]}, app.Config{ChunkThreshold: 4096})
			if err != nil {
				t.Fatal(err)
			}
			sum, err := s.Stream(context.Background(), domain.Query{}, format.Delimiter(), sink)
			if err != nil {
				t.Fatal(err)
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			var got []domain.Ticket
			if format == writersink.JSONArray {
				if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
					t.Fatalf("%s with %d rows is not a JSON array: %v\n%.200s", format, n, err, buf.String())
				}
			} else {
				for line := range strings.Lines(buf.String()) {
					var tk domain.Ticket
					if err := json.Unmarshal([]byte(line), &tk); err != nil {
						t.Fatalf("ndjson line is not a ticket: %v: %q", err, line)
					}
					got = append(got, tk)
				}
			}
			if len(got) != n || sum.Rows != n {
				t.Fatalf("%s: wrote %d tickets (summary %d), want %d", format, len(got), sum.Rows, n)
			}
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSink_ReportsWriteErrors(t *testing.T) {
	t.Parallel()
	rel := &portstest.CountingReleaser{}
	err := writersink.New(failingWriter{}, writersink.NDJSON).WriteChunk(context.Background(), rel.Chunk([]byte(`{}`)))
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("WriteChunk = %v, want the writer's error", err)
	}
	if rel.Released() != 1 {
		t.Fatal("a failed write did not release the chunk")
	}
	if _, err := writersink.ParseFormat("xml"); err == nil {
		t.Fatal("ParseFormat accepted xml")
	}
}
