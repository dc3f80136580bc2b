package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// windowClient is a dashboard holding a live window: it applies the
// operations as the protocol says and checks every rule a client may rely
// on as it goes.
type windowClient struct {
	t      *testing.T
	name   string
	q      domain.Query
	s      *Subscription
	rows   []domain.Ticket
	counts map[string]int // "total", "status/open", "team/billing"
	maxLen int
	msgs   int
	clears int
	taken  []Delivery
}

// pump takes and applies what waits, as the socket's writer would, and
// reports whether it found anything.
func (c *windowClient) pump() bool {
	c.t.Helper()
	var counts []byte
	var err error
	c.taken, counts, err = c.s.TakeWindow(c.taken[:0], 64*1024, nil)
	if err != nil {
		c.t.Fatalf("%s: Take: %v", c.name, err)
	}
	for i := range c.taken {
		c.apply(c.taken[i].Bytes())
		c.taken[i].Release()
	}
	if len(counts) > 0 {
		c.applyCounts(counts)
	}
	if len(c.taken) > 0 || len(counts) > 0 {
		c.msgs++
		return true
	}
	return false
}

func (c *windowClient) apply(op []byte) {
	c.t.Helper()
	var m struct {
		Op     string         `json:"op"`
		ID     int64          `json:"id"`
		Index  *int           `json:"index"`
		Ticket *domain.Ticket `json:"ticket"`
	}
	if err := json.Unmarshal(op, &m); err != nil {
		c.t.Fatalf("%s: operation is not JSON: %q", c.name, op)
	}
	switch m.Op {
	case "clear":
		c.rows = c.rows[:0]
		c.clears++
	case "remove":
		i := slices.IndexFunc(c.rows, func(t domain.Ticket) bool { return t.ID == m.ID })
		if i < 0 {
			c.t.Fatalf("%s: told to remove ticket %d, which it does not hold (a leak of another ticket's id)", c.name, m.ID)
		}
		c.rows = slices.Delete(c.rows, i, i+1)
	case "upsert":
		if m.Ticket == nil || m.Index == nil {
			c.t.Fatalf("%s: upsert without ticket or index: %s", c.name, op)
		}
		if !c.q.MatchesFilter(m.Ticket) {
			c.t.Fatalf("%s: sent ticket %d, which its filter does not pass: %s", c.name, m.Ticket.ID, op)
		}
		if i := slices.IndexFunc(c.rows, func(t domain.Ticket) bool { return t.ID == m.Ticket.ID }); i >= 0 {
			c.rows = slices.Delete(c.rows, i, i+1)
		}
		if *m.Index < 0 || *m.Index > len(c.rows) {
			c.t.Fatalf("%s: upsert at index %d of a window of %d rows", c.name, *m.Index, len(c.rows))
		}
		c.rows = slices.Insert(c.rows, *m.Index, *m.Ticket)
	default:
		c.t.Fatalf("%s: unknown operation %s", c.name, op)
	}
	c.maxLen = max(c.maxLen, len(c.rows))
	if len(c.rows) > c.q.Window {
		c.t.Fatalf("%s: holds %d rows, more than its window of %d", c.name, len(c.rows), c.q.Window)
	}
}

func (c *windowClient) applyCounts(b []byte) {
	c.t.Helper()
	var m struct {
		Total  int            `json:"total"`
		Status map[string]int `json:"status"`
		Team   map[string]int `json:"team"`
	}
	b = b[len(`,"counts":`):]
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("%s: counts are not JSON: %q", c.name, b)
	}
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts["total"] = m.Total
	for k, v := range m.Status {
		c.counts["status/"+k] = v
	}
	for k, v := range m.Team {
		c.counts["team/"+k] = v
	}
}

// want returns the window and the counts the database says c should hold.
func (c *windowClient) want(all []domain.Ticket) ([]domain.Ticket, map[string]int) {
	q := c.q
	q.Window, q.Limit = 0, c.q.Window
	if len(q.Sort) == 0 {
		q.Sort = domain.Sort{{Field: domain.SortUpdatedAt}}
	}
	rows := portstest.Select(all, q)
	counts := map[string]int{"total": 0}
	for _, t := range all {
		if c.q.MatchesFilter(&t) {
			counts["total"]++
			counts["status/"+string(t.Status)]++
			counts["team/"+t.Team]++
		}
	}
	return rows, counts
}

// settled reports whether c's window has everything the feed has dispatched.
func (c *windowClient) settled() bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	w := c.s.win
	return w.loaded && !w.loading && w.counted && len(w.pending) == 0 && c.s.waiting == 0 && !c.s.view.changed() && !w.countsDue
}

func TestWindow_StaysExactUnderBulkWritesAndOpenTransactions(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 1))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	teams := []string{"billing", "support", "sales"}
	agents := []string{"", "", "amy", "bob", "zed"}
	next := int64(1)
	// Few distinct values, so that sorts meet many ties and the id decides.
	ticket := func(id int64) domain.Ticket {
		created := base.Add(time.Duration(rng.IntN(40)) * time.Minute)
		return domain.Ticket{ID: id, Team: teams[rng.IntN(len(teams))], Subject: fmt.Sprintf("Refund %d", id),
			Status: domain.Statuses[rng.IntN(len(domain.Statuses))], Priority: domain.Priorities[rng.IntN(len(domain.Priorities))],
			Requester: "r@example.com", Assignee: agents[rng.IntN(len(agents))], CreatedAt: created,
			UpdatedAt: created.Add(time.Duration(rng.IntN(3)) * time.Minute)}
	}
	feed := portstest.NewFeed()
	var initial []domain.Ticket
	for range 3000 {
		initial = append(initial, ticket(next))
		next++
	}
	feed.Put(initial...)
	h := startHub(t, feed, HubConfig{QueueBytes: 64 << 20}, nil)

	queries := []string{
		"team=billing&sort=-priority,created_at&window=10",
		"sort=status,-updated_at&window=25",
		"status=open,pending&sort=assignee&window=5",
		"q=refund 1&window=7",
		"team=sales&sort=-created_at&window=1",
		"priority=urgent&team=support&sort=team,-assignee,status&window=40",
		"assignee=&sort=-status,priority,created_at&window=200",
	}
	var clients []*windowClient
	for _, qs := range queries {
		q := hostileQuery(t, qs)
		s, _, err := h.Subscribe(context.Background(), q, SubscribeOptions{Source: feed})
		if err != nil {
			t.Fatalf("%s: %v", qs, err)
		}
		t.Cleanup(s.Close)
		clients = append(clients, &windowClient{t: t, name: qs, q: q, s: s})
	}
	pumpAll := func() {
		for _, c := range clients {
			for c.pump() {
			}
		}
	}
	now := base.Add(time.Hour)
	update := func(id int64) domain.Ticket {
		t := ticket(id)
		now = now.Add(time.Millisecond)
		if rng.IntN(2) == 0 {
			t.UpdatedAt = now
		}
		return t
	}
	live := make([]int64, 0, 4000) // the ids that exist
	for _, t := range initial {
		live = append(live, t.ID)
	}
	existing := func() int64 { return live[rng.IntN(len(live))] }
	// An open transaction, committed only near the end, beside the rest.
	held := feed.Begin()
	held.Put(update(existing()), update(existing()))
	for round := range 60 {
		switch rng.IntN(6) {
		case 0: // a bulk statement of thousands of rows
			tx := feed.Begin()
			for range 2000 + rng.IntN(1500) {
				tx.Put(update(existing()))
			}
			tx.Commit()
		case 1:
			var ids []int64
			for range 1 + rng.IntN(30) {
				i := rng.IntN(len(live))
				ids = append(ids, live[i])
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
			}
			feed.Remove(ids...)
		case 2:
			var fresh []domain.Ticket
			for range 1 + rng.IntN(40) {
				fresh = append(fresh, ticket(next))
				live = append(live, next)
				next++
			}
			feed.Put(fresh...)
		default:
			for range 1 + rng.IntN(20) {
				feed.Put(update(existing()))
			}
		}
		if round%3 == 0 {
			pumpAll()
		}
		if round == 45 {
			held.Commit()
		}
	}
	last := feed.Put(update(existing()))
	portstest.Await(t, "every window settled at the last write", func() bool {
		pumpAll()
		if !h.Position().Includes(last) {
			return false
		}
		for _, c := range clients {
			if !c.settled() {
				return false
			}
		}
		return true
	})
	all := feed.Tickets()
	for _, c := range clients {
		rows, counts := c.want(all)
		if d := diffWindow(c.rows, rows); d != "" {
			t.Errorf("%s: window differs from the database's ORDER BY … LIMIT: %s", c.name, d)
		}
		for k, v := range counts {
			if c.counts[k] != v {
				t.Errorf("%s: count %s = %d, want %d", c.name, k, c.counts[k], v)
			}
		}
		for k, v := range c.counts {
			if _, ok := counts[k]; !ok && v != 0 {
				t.Errorf("%s: count %s = %d, want 0", c.name, k, v)
			}
		}
		t.Logf("%s: %d rows (max %d), %d messages, %d clears", c.name, len(c.rows), c.maxLen, c.msgs, c.clears)
	}
	t.Logf("window reads: %d, changes: %d", h.Stats().WindowReads, h.Stats().Changes)
}

func diffWindow(got, want []domain.Ticket) string {
	ids := func(ts []domain.Ticket) []int64 {
		var out []int64
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		return fmt.Sprintf("ids %v, want %v", ids(got), ids(want))
	}
	var b strings.Builder
	for i := range got {
		if d := portstest.DiffTicket(got[i], want[i]); d != "" {
			fmt.Fprintf(&b, "row %d: %s; ", i, d)
		}
	}
	return b.String()
}

func TestWindowRetryDelay_DoublesUpToTheCapAndNeverWraps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		poll, retryMax time.Duration
		failures       int
		want           time.Duration
	}{
		{"first failure", 10 * time.Millisecond, 2 * time.Second, 1, 200 * time.Millisecond},
		{"second failure", 10 * time.Millisecond, 2 * time.Second, 2, 400 * time.Millisecond},
		{"capped", 10 * time.Millisecond, 2 * time.Second, 5, 2 * time.Second},
		{"doublings stop at 16", time.Nanosecond, time.Hour, 40, 10 << 16},
		{"ten intervals past the cap", time.Second, 2 * time.Second, 1, 2 * time.Second},
		// 10 × 2^16 poll intervals of 4 h pass what a Duration holds.
		{"a poll interval of hours", 4 * time.Hour, 2 * time.Second, 16, 2 * time.Second},
		{"the longest poll interval", math.MaxInt64, math.MaxInt64, 16, math.MaxInt64},
		{"a long cap", 4 * time.Hour, math.MaxInt64, 16, math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := windowRetryDelay(tc.poll, tc.retryMax, tc.failures); got != tc.want {
				t.Fatalf("windowRetryDelay(%s, %s, %d) = %s, want %s", tc.poll, tc.retryMax, tc.failures, got, tc.want)
			}
		})
	}
}
