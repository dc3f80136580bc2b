package app

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// The hostile cases of live windows, first found by an attack on them.

func hostileQuery(t *testing.T, query string) domain.Query {
	t.Helper()
	v, err := domain.ParseQueryString(query)
	if err != nil {
		t.Fatal(err)
	}
	q, err := domain.ParseQuery(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func hostileTicket(id int64, team string, at time.Time) domain.Ticket {
	return domain.Ticket{ID: id, Team: team, Subject: fmt.Sprintf("subject of ticket %d, some words to make it long enough", id),
		Status: domain.StatusOpen, Priority: domain.PriorityNormal, Requester: "requester@example.com",
		CreatedAt: at, UpdatedAt: at}
}

// openWindow subscribes a window over src (feed when nil) and returns its
// client once its rows and counts are in.
func openWindow(t *testing.T, h *Hub, feed *portstest.Feed, src ports.TicketSource, query string, scope domain.Scope) *windowClient {
	t.Helper()
	q := hostileQuery(t, query)
	if src == nil {
		src = feed
	}
	s, _, err := h.Subscribe(context.Background(), q, SubscribeOptions{Source: src, Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &windowClient{t: t, name: query, q: q, s: s}
}

// settle pumps c until it holds what the feed has dispatched up to last.
func (c *windowClient) settle(h *Hub, last domain.ChangePos) {
	c.t.Helper()
	portstest.Await(c.t, c.name+" settled", func() bool {
		for c.pump() {
		}
		return h.Position().Includes(last) && c.settled()
	})
}

// expect checks c's window and counts against the feed.
func (c *windowClient) expect(feed *portstest.Feed) {
	c.t.Helper()
	rows, counts := c.want(feed.Tickets())
	if d := diffWindow(c.rows, rows); d != "" {
		c.t.Errorf("%s: %s", c.name, d)
	}
	if c.counts["total"] != counts["total"] {
		c.t.Errorf("%s: total %d, want %d", c.name, c.counts["total"], counts["total"])
	}
}

func TestWindow_ADashboardFarBehindGetsTheWindowAnewNotEveryStep(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		query string
		churn func(feed *portstest.Feed) domain.ChangePos
	}{
		{"20,000 inserts at the top of a window of 50 that does not read", "team=billing&sort=-updated_at&window=50", func(feed *portstest.Feed) domain.ChangePos {
			var last domain.ChangePos
			now := base.Add(time.Hour)
			for i := range 20000 {
				now = now.Add(time.Millisecond)
				last = feed.Put(hostileTicket(int64(1000+i), "billing", now))
			}
			return last
		}},
		{"one UPDATE of 5,000 rows each passing the top of a window of 1", "sort=-updated_at&window=1", func(feed *portstest.Feed) domain.ChangePos {
			tx := feed.Begin()
			now := base.Add(24 * time.Hour)
			for id := int64(1); id <= 5000; id++ {
				tk := hostileTicket(id, "billing", base.Add(time.Duration(id)*time.Second))
				tk.UpdatedAt = now.Add(time.Duration(id) * time.Microsecond)
				tx.Put(tk)
			}
			tx.Commit()
			return feed.Put(hostileTicket(99999, "sales", base))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			feed := portstest.NewFeed()
			var initial []domain.Ticket
			for id := int64(1); id <= 5000; id++ {
				initial = append(initial, hostileTicket(id, "billing", base.Add(time.Duration(id)*time.Second)))
			}
			feed.Put(initial...)
			const queueBytes = 64 << 10
			h := startHub(t, feed, HubConfig{QueueBytes: queueBytes}, nil)
			c := openWindow(t, h, feed, nil, tc.query, domain.Scope{})
			c.settle(h, h.Position())
			reads := h.Stats().WindowReads
			last := tc.churn(feed)
			portstest.Await(t, "the churn dispatched", func() bool { return h.Position().Includes(last) })
			c.s.mu.Lock()
			waiting, bytes, size := c.s.waiting, c.s.bytes, c.q.Window
			c.s.mu.Unlock()
			if waiting > 2*size+17 || bytes > queueBytes {
				t.Errorf("%d operations (%d bytes) wait for a window of %d rows", waiting, bytes, size)
			}
			if err := c.s.Err(); err != nil {
				c.s.mu.Lock()
				t.Logf("reads %d→%d, pending %d bytes, loading %v, rows %d", reads, h.Stats().WindowReads, c.s.win.pendingBytes, c.s.win.loading, len(c.s.win.rows))
				c.s.mu.Unlock()
				t.Errorf("failed with %v: a window far behind is sent anew, not dropped", err)
			}
			c.settle(h, last)
			c.expect(feed)
			if c.clears == 0 {
				t.Errorf("no clear: the dashboard was sent every step")
			}
		})
	}
}

// gatedSource blocks every read until gate is closed: a slow database.
type gatedSource struct {
	ports.TicketSource
	gate chan struct{}
}

func (g gatedSource) StreamTickets(ctx context.Context, q domain.Query, n int, h ports.BatchHandler) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.TicketSource.StreamTickets(ctx, q, n, h)
}

func TestWindow_OtherTeamsBulkWritesDuringASlowReadDoNotDropIt(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	feed := portstest.NewFeed()
	feed.Put(hostileTicket(1, "billing", base), hostileTicket(2, "sales", base))
	h := startHub(t, feed, HubConfig{QueueBytes: 64 << 10}, nil)
	src := gatedSource{TicketSource: feed, gate: make(chan struct{})}
	c := openWindow(t, h, feed, src, "team=billing&sort=-priority,created_at&window=10", domain.Scope{Teams: []string{"billing"}})
	var last domain.ChangePos
	now := base
	for range 3 { // the same 3,000 sales tickets, three times over
		tx := feed.Begin()
		for i := range 3000 {
			now = now.Add(time.Millisecond)
			tx.Put(hostileTicket(int64(1000+i), "sales", now))
		}
		tx.Commit()
	}
	last = feed.Put(hostileTicket(3, "billing", now))
	portstest.Await(t, "dispatched", func() bool { return h.Position().Includes(last) })
	close(src.gate)
	c.settle(h, last)
	if err := c.s.Err(); err != nil {
		t.Fatalf("the billing window failed with %v after writes to sales tickets during its first read", err)
	}
	c.expect(feed)
	if got := c.rows; len(got) != 2 || slices.ContainsFunc(got, func(t domain.Ticket) bool { return t.Team != "billing" }) {
		t.Errorf("the billing window holds %v", ids(got))
	}
}

func TestWindow_ALargeWindowsRowsComeFirstAndItsCountsOnceCounted(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	feed := portstest.NewFeed()
	var initial []domain.Ticket
	for id := int64(1); id <= 3000; id++ {
		initial = append(initial, hostileTicket(id, "billing", base.Add(time.Duration(id)*time.Second)))
	}
	feed.Put(initial...)
	h := startHub(t, feed, HubConfig{QueueBytes: 64 << 20}, nil)
	c := openWindow(t, h, feed, nil, "sort=-created_at&window=1000", domain.Scope{})
	// Churn all along, so that operations keep arriving between messages.
	stop := make(chan struct{})
	done := make(chan struct{})
	var last domain.ChangePos // the churn's last change; read after done
	go func() {
		defer close(done)
		now := base.Add(time.Hour)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			now = now.Add(time.Second)
			tk := hostileTicket(int64(1+i%3000), "billing", now)
			tk.CreatedAt = now
			last = feed.Put(tk)
			time.Sleep(time.Millisecond)
		}
	}()
	portstest.Await(t, "counts under churn", func() bool {
		c.pump()
		return c.counts != nil
	})
	close(stop)
	<-done
	if len(c.rows) != 1000 {
		t.Errorf("counts came before the window's rows: %d of 1000 held", len(c.rows))
	}
	// Settled once the hub has dispatched the churn's last change: its
	// position when the churn stopped may lack the changes not yet read.
	c.settle(h, last)
	c.expect(feed)
}

func ids(rows []domain.Ticket) []int64 {
	var out []int64
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}
