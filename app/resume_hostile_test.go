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
// nothing changed since its cursor, claiming what it holds (its digest is
// the cursor's), has no row of its filter read back; its counts are its
// claim's.
func TestResumeHostile_AResumeWithAClaimReadsNoRowOfTheFilter(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	tickets := demodata.New(1505).Tickets(5000)
	cursor := feed.Put(tickets...)
	h := startHub(t, feed, HubConfig{}, nil)
	portstest.WaitFor(t, 5*time.Second, "the hub at the cursor", func() bool { return h.Position().Includes(cursor) })
	src := &countingSource{TicketSource: feed}
	st, err := NewStreamer(src, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := h.Subscribe(context.Background(), domain.Query{}, SubscribeOptions{SkipUntil: cursor, After: cursor, Resumed: true, Scope: domain.Scope{AllTeams: true}, Digester: testDigester})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	claimTickets(t, s, tickets)
	if !s.AdoptClaim(digestOf(tickets)) {
		t.Fatal("a claim of exactly what the cursor's digest was made of was refused")
	}
	if err := st.RestoreClaimed(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if n := src.rows.Load(); n != 0 {
		t.Fatalf("the resume read %d rows of the filter back, nothing having changed since the cursor", n)
	}
	s.Settle()
	if !s.CountsDue() || s.Held() != 5000 {
		t.Fatalf("counts due %v, held %d: want the claim's 5000 tickets counted at once", s.CountsDue(), s.Held())
	}
}
