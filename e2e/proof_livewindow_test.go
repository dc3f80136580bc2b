package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// proofWindows are the proof's windowed dashboards: queues as agents keep
// them, some scoped to their teams, small enough that writers move
// tickets in, out and across their edges all the time.
var proofWindows = []struct {
	teams []string // nil: every team
	query string
}{
	{nil, "sort=-priority,created_at&window=20"},
	{nil, "status=new,open,pending&sort=-updated_at&window=5"},
	{nil, "sort=status,-priority,assignee&window=50"},
	{nil, "priority=urgent,high&sort=team,created_at&window=1"},
	{[]string{"billing"}, "sort=-priority,created_at&window=10"},
	{[]string{"billing", "accounts"}, "status=open,pending&sort=assignee,-created_at&window=30"},
}

// windowProofClient is a dashboard holding a live window: it applies the
// operations, drops its connection at random (a window then comes whole
// again) and records every rule broken.
type windowProofClient struct {
	query string
	teams []string
	token string
	q     domain.Query // filter, scope, sort and window

	mu       sync.Mutex
	rows     []domain.Ticket
	total    int
	maxHeld  int
	messages int
	conns    int
	broken   []string // rules broken: more than the window, a removal of a row not held, a row outside the filter or scope
}

func newWindowProofClient(tb interface {
	Fatal(...any)
	Helper()
}, teams []string, query, token string) *windowProofClient {
	tb.Helper()
	q, err := parseFilter(query)
	if err == nil && teams != nil {
		q, err = domain.Scope{Teams: teams}.Restrict(q)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return &windowProofClient{query: query, teams: teams, token: token, q: q}
}

func (wc *windowProofClient) String() string {
	if wc.teams != nil {
		return fmt.Sprintf("window %q (teams %v)", wc.query, wc.teams)
	}
	return fmt.Sprintf("window %q", wc.query)
}

// run connects to a random replica until ctx ends, dropping each
// connection after a random while until settle is closed.
func (wc *windowProofClient) run(ctx context.Context, rng *rand.Rand, replicas []*replica, settle <-chan struct{}) {
	for ctx.Err() == nil {
		r := replicas[rng.IntN(len(replicas))]
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, _, err := websocket.Dial(dctx, "ws://"+r.addr+"/v1/stream?"+wc.query, &websocket.DialOptions{
			Subprotocols: []string{wsgateway.Subprotocol, wsgateway.BearerPrefix + wc.token}, CompressionMode: websocket.CompressionNoContextTakeover})
		cancel()
		if err != nil { // a replica restarting
			sleepCtx(ctx, time.Duration(20+rng.IntN(100))*time.Millisecond)
			continue
		}
		c.SetReadLimit(4 << 20)
		wc.mu.Lock()
		wc.conns++
		wc.rows, wc.total = nil, 0 // a window comes whole on every connection
		wc.mu.Unlock()
		rctx, rcancel := context.WithCancel(ctx)
		select {
		case <-settle:
		default:
			time.AfterFunc(time.Duration(200+rng.IntN(1500))*time.Millisecond, rcancel)
		}
		for {
			_, data, err := c.Read(rctx)
			if err != nil {
				break
			}
			wc.mu.Lock()
			wc.apply(data)
			wc.mu.Unlock()
		}
		rcancel()
		c.CloseNow()
	}
}

// apply applies one message. Caller holds wc.mu.
func (wc *windowProofClient) apply(data []byte) {
	var m struct {
		Type   string `json:"type"`
		Counts *struct {
			Total int `json:"total"`
		} `json:"counts"`
		Changes []struct {
			Op     string         `json:"op"`
			ID     int64          `json:"id"`
			Index  int            `json:"index"`
			Ticket *domain.Ticket `json:"ticket"`
		} `json:"changes"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Type != "changes" {
		wc.broken = append(wc.broken, fmt.Sprintf("not a window's message: %.200s", data))
		return
	}
	wc.messages++
	for _, op := range m.Changes {
		switch op.Op {
		case "clear": // far behind: the window comes anew
			wc.rows = wc.rows[:0]
		case "remove":
			i := slices.IndexFunc(wc.rows, func(t domain.Ticket) bool { return t.ID == op.ID })
			if i < 0 {
				wc.broken = append(wc.broken, fmt.Sprintf("told to remove ticket %d, not held", op.ID))
				continue
			}
			wc.rows = slices.Delete(wc.rows, i, i+1)
		case "upsert":
			if op.Ticket == nil || !wc.q.MatchesFilter(op.Ticket) {
				wc.broken = append(wc.broken, fmt.Sprintf("sent a ticket outside its filter or scope: %.200s", data))
				continue
			}
			if i := slices.IndexFunc(wc.rows, func(t domain.Ticket) bool { return t.ID == op.Ticket.ID }); i >= 0 {
				wc.rows = slices.Delete(wc.rows, i, i+1)
			}
			if op.Index < 0 || op.Index > len(wc.rows) {
				wc.broken = append(wc.broken, fmt.Sprintf("upsert at index %d of %d rows", op.Index, len(wc.rows)))
				continue
			}
			wc.rows = slices.Insert(wc.rows, op.Index, *op.Ticket)
		default:
			wc.broken = append(wc.broken, "unknown op "+op.Op)
		}
		wc.maxHeld = max(wc.maxHeld, len(wc.rows))
		if len(wc.rows) > wc.q.Window {
			wc.broken = append(wc.broken, fmt.Sprintf("held %d rows, more than its window of %d", len(wc.rows), wc.q.Window))
		}
	}
	if m.Counts != nil {
		wc.total = m.Counts.Total
	}
}

// want returns the window and the filter's total the database says wc
// should hold: SELECT … WHERE <filter> ORDER BY <sort> LIMIT N.
func (wc *windowProofClient) want(tickets []domain.Ticket) ([]int64, int) {
	q := wc.q
	q.Window, q.Limit = 0, wc.q.Window
	total := 0
	for i := range tickets {
		if q.MatchesFilter(&tickets[i]) {
			total++
		}
	}
	var ids []int64
	for _, t := range portstest.Select(tickets, q) {
		ids = append(ids, t.ID)
	}
	return ids, total
}

// matches reports whether wc holds exactly want, with that total.
func (wc *windowProofClient) matches(want []int64, total int, tickets map[int64]domain.Ticket) bool {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if wc.total != total || len(wc.rows) != len(want) {
		return false
	}
	for i, r := range wc.rows {
		if r.ID != want[i] || portstest.DiffTicket(r, tickets[r.ID]) != "" {
			return false
		}
	}
	return true
}

// newProofWindows returns the proof's windowed dashboards, with tokens.
func newProofWindows(t interface {
	Fatal(...any)
	Helper()
}, all string, scoped func([]string) string) []*windowProofClient {
	var out []*windowProofClient
	for _, w := range proofWindows {
		token := all
		if w.teams != nil {
			token = scoped(w.teams)
		}
		out = append(out, newWindowProofClient(t, w.teams, w.query, token))
	}
	return out
}
