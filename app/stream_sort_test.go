package app

import (
	"context"
	"slices"
	"testing"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A sorted page's cursor is its last row's key: the summary of a sorted
// stream carries it, and a default-order stream leaves it zero.
func TestStream_SortedStreamReportsTheLastRowsKey(t *testing.T) {
	t.Parallel()
	rows := demodata.New(5).Tickets(300)
	sort, _ := domain.ParseSort("-priority,created_at")
	want := slices.Clone(rows)
	slices.SortFunc(want, func(a, b domain.Ticket) int { return sort.CompareTickets(&a, &b) })
	s := newTestStreamer(t, &portstest.Source{Tickets: rows}, Config{ChunkThreshold: 2048, BatchSize: 7})
	for _, limit := range []int{1, 50, 300} {
		sum, err := s.Stream(context.Background(), domain.Query{Sort: sort, Limit: limit}, ports.Newline, &portstest.Sink{})
		if err != nil {
			t.Fatal(err)
		}
		if got, wantKey := sum.LastKey, domain.KeyOf(&want[limit-1]); sum.Rows != limit || got != wantKey {
			t.Fatalf("limit %d: %d rows, LastKey %+v; want %+v", limit, sum.Rows, got, wantKey)
		}
	}
	sum, err := s.Stream(context.Background(), domain.Query{Limit: 10}, ports.Newline, &portstest.Sink{})
	if err != nil || sum.LastKey != (domain.RowKey{}) {
		t.Fatalf("a default-order stream: LastKey %+v, %v; want none", sum.LastKey, err)
	}
	assertNoBuffersInUse(t, s)
}
