package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// Windows over a slow database: reads, refills, counts and restarts overlap
// with the churn (cases of the second attack on live windows).

// slowSource reads in small batches and sleeps between them: a database
// whose reads take long enough for restarts, refills and counts to overlap.
type slowSource struct {
	ports.TicketSource
	batch int
	delay time.Duration
	block atomic.Pointer[chan struct{}] // while set, reads wait for it to close
	reads atomic.Int64
}

func (s *slowSource) StreamTickets(ctx context.Context, q domain.Query, n int, h ports.BatchHandler) error {
	s.reads.Add(1)
	if g := s.block.Load(); g != nil {
		select {
		case <-*g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.TicketSource.StreamTickets(ctx, q, s.batch, ports.BatchHandlerFunc(func(b []domain.Ticket) error {
		time.Sleep(s.delay)
		return h.HandleBatch(b)
	}))
}

// fullCounts compares every bucket the client holds with the database's.
func (c *windowClient) countsDiff(feed *portstest.Feed) string {
	_, want := c.want(feed.Tickets())
	var diffs []string
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range c.counts {
		keys[k] = true
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		if c.counts[k] != want[k] {
			diffs = append(diffs, fmt.Sprintf("%s=%d (want %d)", k, c.counts[k], want[k]))
		}
	}
	return strings.Join(diffs, ", ")
}

// After a window starts over (clear), its "every count" message leaves out
// the teams that have no ticket any more: a client that merges counts (the
// protocol gives it no way to tell a whole-counts message from a delta in a
// window's changes, and clear says nothing of counts) keeps the old count of
// that team for ever.
func TestWindow_AfterStartingOverCountsNameEveryTeamItWasToldOf(t *testing.T) {
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	feed := portstest.NewFeed()
	var initial []domain.Ticket
	for id := int64(1); id <= 40; id++ {
		initial = append(initial, hostileTicket(id, "billing", base.Add(time.Duration(id)*time.Second)))
	}
	for id := int64(41); id <= 45; id++ {
		initial = append(initial, hostileTicket(id, "sales", base.Add(time.Duration(id)*time.Second)))
	}
	feed.Put(initial...)
	const queueBytes = 4 << 10
	h := startHub(t, feed, HubConfig{QueueBytes: queueBytes}, nil)
	src := &slowSource{TicketSource: feed}
	c := openWindow(t, h, feed, src, "status=open&sort=-created_at&window=5", domain.Scope{})
	c.settle(h, h.Position())
	if c.counts["team/sales"] != 5 {
		t.Fatalf("setup: sales count %d", c.counts["team/sales"])
	}
	// Reads now hang: the next refill stays in flight.
	gate := make(chan struct{})
	src.block.Store(&gate)
	// The top 6 rows leave the filter: the window runs short and reads.
	for id := int64(45); id >= 40; id-- {
		tk := hostileTicket(id, "sales", base.Add(time.Duration(id)*time.Second))
		if id == 40 {
			tk.Team = "billing"
		}
		tk.Status = domain.StatusSolved
		feed.Put(tk)
	}
	portstest.Await(t, "refill in flight", func() bool { return src.reads.Load() == 3 })
	// Every sales ticket is now solved (out of the filter). Enough billing
	// churn meanwhile passes 8× the queue bound: the window starts over.
	var last domain.ChangePos
	for id := int64(1); id <= 30; id++ {
		tk := hostileTicket(id, "billing", base.Add(time.Duration(id)*time.Second))
		tk.Subject = strings.Repeat("x", 1500)
		last = feed.Put(tk)
	}
	portstest.Await(t, "dispatched", func() bool { return h.Position().Includes(last) })
	c.s.mu.Lock()
	t.Logf("loading %v pending %d bytes, rows %d, gen %d", c.s.win.loading, c.s.win.pendingBytes, len(c.s.win.rows), c.s.win.gen)
	c.s.mu.Unlock()
	src.block.Store(nil)
	close(gate)
	c.settle(h, last)
	if c.clears == 0 {
		t.Fatalf("setup: the window did not start over (reads %d)", src.reads.Load())
	}
	c.expect(feed)
	if d := c.countsDiff(feed); d != "" {
		t.Errorf("after the window started over (clear) the dashboard's counts are wrong: %s", d)
	}
}

// A billing window restarts (clear, its rows and its whole-filter count
// read anew) because of writes to SALES tickets during one of its reads:
// the dashboard is told of another team's bulk write, and the database
// pays a new count of the filter.
func TestWindow_OtherTeamsBulkWritesDuringARefillLeaveAScopedWindowAlone(t *testing.T) {
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	feed := portstest.NewFeed()
	var initial []domain.Ticket
	for id := int64(1); id <= 50; id++ {
		initial = append(initial, hostileTicket(id, "billing", base.Add(time.Duration(id)*time.Second)))
	}
	feed.Put(initial...)
	h := startHub(t, feed, HubConfig{QueueBytes: 64 << 10}, nil)
	src := &slowSource{TicketSource: feed}
	c := openWindow(t, h, feed, src, "team=billing&sort=-created_at&window=10", domain.Scope{Teams: []string{"billing"}})
	c.settle(h, h.Position())
	reads := src.reads.Load()
	gate := make(chan struct{})
	src.block.Store(&gate)
	// Billing deletes its top 6 tickets: a refill read starts (and hangs).
	feed.Remove(50, 49, 48, 47, 46, 45)
	portstest.Await(t, "refill in flight", func() bool { return src.reads.Load() > reads })
	// Meanwhile, sales bulk-inserts 12,000 tickets (none of billing's business).
	tx := feed.Begin()
	for i := range 12000 {
		tx.Put(hostileTicket(int64(10000+i), "sales", base))
	}
	tx.Commit()
	last := feed.Put(hostileTicket(1, "billing", base.Add(time.Second)))
	portstest.Await(t, "dispatched", func() bool { return h.Position().Includes(last) })
	src.block.Store(nil)
	close(gate)
	c.settle(h, last)
	c.expect(feed)
	if c.clears > 0 {
		t.Errorf("the billing window was cleared and read anew (%d reads after the refill) because sales wrote 12,000 tickets during its refill", src.reads.Load()-reads)
	}
}

// Many windows, a slow database (reads, counts and refills overlap with the
// churn), a queue bound small enough that windows start over and collapse
// often: every window must end exact, rows and every count.
func TestWindow_RestartsCollapsesAndCountsUnderChurnStayExact(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 77))
			base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			teams := []string{"billing", "support", "sales", "ops"}
			ticket := func(id int64) domain.Ticket {
				created := base.Add(time.Duration(rng.IntN(40)) * time.Minute)
				return domain.Ticket{ID: id, Team: teams[rng.IntN(len(teams))], Subject: fmt.Sprintf("Refund %d %s", id, strings.Repeat("y", rng.IntN(200))),
					Status: domain.Statuses[rng.IntN(len(domain.Statuses))], Priority: domain.Priorities[rng.IntN(len(domain.Priorities))],
					Requester: "r@example.com", CreatedAt: created, UpdatedAt: created.Add(time.Duration(rng.IntN(3)) * time.Minute)}
			}
			feed := portstest.NewFeed()
			var initial []domain.Ticket
			for id := int64(1); id <= 2000; id++ {
				initial = append(initial, ticket(id))
			}
			feed.Put(initial...)
			h := startHub(t, feed, HubConfig{QueueBytes: 8 << 10}, nil)
			src := &slowSource{TicketSource: feed, batch: 100, delay: 300 * time.Microsecond}
			queries := []string{
				"status=open,pending&sort=-priority,created_at&window=10",
				"team=billing&sort=-updated_at&window=5",
				"sort=team,-created_at&window=50",
				"status=new&sort=created_at&window=1",
			}
			var clients []*windowClient
			for _, qs := range queries {
				clients = append(clients, openWindow(t, h, feed, src, qs, domain.Scope{}))
			}
			var mu sync.Mutex
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for _, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						mu.Lock()
						c.pump()
						mu.Unlock()
						time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
					}
				}()
			}
			next := int64(2001)
			var last domain.ChangePos
			for round := range 60 {
				switch round % 4 {
				case 0: // bulk move
					tx := feed.Begin()
					for range 400 {
						tx.Put(ticket(int64(1 + rng.IntN(int(next-1)))))
					}
					tx.Commit()
				case 1:
					var ids []int64
					for range 30 {
						ids = append(ids, int64(1+rng.IntN(int(next-1))))
					}
					feed.Remove(ids...)
				case 2:
					for range 50 {
						last = feed.Put(ticket(next))
						next++
					}
				case 3:
					for range 50 {
						last = feed.Put(ticket(int64(1 + rng.IntN(int(next-1)))))
					}
				}
				time.Sleep(time.Duration(rng.IntN(4)) * time.Millisecond)
			}
			last = feed.Put(ticket(next))
			portstest.Await(t, "dispatched", func() bool { return h.Position().Includes(last) })
			close(stop)
			wg.Wait()
			for _, c := range clients {
				c.settle(h, last)
				c.expect(feed)
				if d := c.countsDiff(feed); d != "" {
					t.Errorf("%s (%d clears): counts %s", c.name, c.clears, d)
				}
			}
			t.Logf("restarts/collapses %d, reads %d", h.Stats().Coalesced, src.reads.Load())
		})
	}
}

// failingSource fails its first reads, as a database that restarts does.
type failingSource struct {
	ports.TicketSource
	failures atomic.Int64
}

func (s *failingSource) StreamTickets(ctx context.Context, q domain.Query, n int, h ports.BatchHandler) error {
	if s.failures.Add(-1) >= 0 {
		return fmt.Errorf("connection reset by peer")
	}
	return s.TicketSource.StreamTickets(ctx, q, n, h)
}

func TestWindow_ADatabaseBlipDelaysAWindowAndClosesNone(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	feed := portstest.NewFeed()
	var initial []domain.Ticket
	for id := int64(1); id <= 100; id++ {
		initial = append(initial, hostileTicket(id, "billing", base.Add(time.Duration(id)*time.Second)))
	}
	feed.Put(initial...)
	h := startHub(t, feed, HubConfig{}, nil)
	src := &failingSource{TicketSource: feed}
	src.failures.Store(3) // the rows' read fails three times
	c := openWindow(t, h, feed, src, "sort=-created_at&window=10", domain.Scope{})
	c.settle(h, h.Position())
	c.expect(feed)
	// The count of a refill's window and a refill fail too: the rows on
	// screen stay, and come right once the database answers.
	src.failures.Store(2)
	last := feed.Remove(100, 99, 98, 97, 96, 95, 94)
	c.settle(h, last)
	if err := c.s.Err(); err != nil {
		t.Fatalf("the window failed with %v: a read that fails is tried again", err)
	}
	c.expect(feed)
}
