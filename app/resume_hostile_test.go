package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// countingSource counts the rows a TicketSource hands out.
type countingSource struct {
	ports.TicketSource
	rows atomic.Int64
}

func (c *countingSource) StreamTickets(ctx context.Context, q domain.Query, batchSize int, h ports.BatchHandler) error {
	return c.TicketSource.StreamTickets(ctx, q, batchSize, ports.BatchHandlerFunc(func(b []domain.Ticket) error {
		c.rows.Add(int64(len(b)))
		return h.HandleBatch(b)
	}))
}

// Issue 15, Deliver 4: "a resume never re-reads the whole filter to count
// and cannot livelock". A dashboard of 5,000 tickets that resumes with
// nothing changed since its cursor has the whole filter read back by
// RestoreView: every resume — a flaky phone, a rolling deploy — costs a
// scan of the filter, whatever changed.
func TestResumeHostile_AResumeWithNothingChangedReadsTheWholeFilter(t *testing.T) {
	t.Skip("known, open: a resume reads the filter's ids, statuses and teams back")
	t.Parallel()
	feed := portstest.NewFeed()
	cursor := feed.Put(demodata.New(1505).Tickets(5000)...)
	h := startHub(t, feed, HubConfig{}, nil)
	portstest.WaitFor(t, 5*time.Second, "the hub at the cursor", func() bool { return h.Position().Includes(cursor) })
	src := &countingSource{TicketSource: feed}
	st, err := NewStreamer(src, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := h.Subscribe(context.Background(), domain.Query{}, SubscribeOptions{SkipUntil: cursor, After: cursor, Resumed: true, Scope: domain.Scope{AllTeams: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := st.RestoreView(context.Background(), domain.Query{}, domain.LiveCursor{SnapshotDone: true, Live: cursor}, s); err != nil {
		t.Fatal(err)
	}
	if n := src.rows.Load(); n > 100 {
		t.Fatalf("the resume read %d rows of the filter back, nothing having changed since the cursor: a resume must not re-read the whole filter", n)
	}
}
