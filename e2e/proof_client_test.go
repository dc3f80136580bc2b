package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
)

// proofClient is one dashboard that drops its connection at random and
// resumes from its last cursor, on whichever replica it reaches. Besides
// its view it audits every message it receives: what a scoped dashboard
// may not hear of, and whether pushed counts describe the view.
type proofClient struct {
	filter string
	token  string
	// teams the token grants; nil for every team.
	teams []string
	// steady dashboards stay on the last replica (the one never restarted)
	// and never hang up: a resume's catch-up rereads the feed from the
	// database and would mend a change the hub's own reads skipped.
	steady bool
	// readBack dashboards resume without saying what they hold: the
	// server reads their views back from the database instead.
	readBack bool
	mu       sync.Mutex // guards view and audit: the test reads them while the client runs
	view     wsclient.View
	audit    proofAudit
	resumes  atomic.Int64
	failures atomic.Int64
}

func (pc *proofClient) String() string {
	s := fmt.Sprintf("dashboard %q", pc.filter)
	if pc.steady {
		s = "steady " + s
	}
	if pc.teams != nil {
		s += fmt.Sprintf(" scoped to %v", pc.teams)
	}
	if pc.readBack {
		s += " (resumes without saying what it holds)"
	}
	return s
}

// proofAudit is what a dashboard saw that it should not have.
type proofAudit struct {
	// held is every ticket id the dashboard has held, across reconnects.
	held map[int64]bool
	// foreign are the ids a scoped dashboard heard of without ever holding
	// them — as a ticket outside its teams, or as a removal — each with
	// where it first came.
	foreign map[int64]string
	// foreignRemoval marks the foreign ids that came as removals.
	foreignRemoval map[int64]bool
	// foreignMessages counts the messages that mentioned any.
	foreignMessages int
	// miscounted counts messages whose counts differ from the view once
	// applied, by kind of message; miscountExamples says a few.
	miscounted       map[string]int
	miscountExamples []string
	countedMessages  int
	// history is, for every ticket the dashboard heard of, the last few
	// messages that mentioned it: what a wrong final view is explained by.
	history map[int64][]string
	// conns numbers the connections; connLog says when each began and
	// ended, and what it got, to set beside a ticket's history.
	conns   int
	connLog []string
}

// stamp is how the proof's traces write a time: as updated_at is shown.
func stamp(t time.Time) string { return t.Format("15:04:05.000000") }

// historyLen is how many mentions of a ticket history keeps.
const historyLen = 10

// remember records a mention of ticket id in history.
func (a *proofAudit) remember(id int64, what string) {
	h := a.history[id]
	if len(h) == historyLen {
		h = append(h[:0], h[1:]...)
	}
	a.history[id] = append(h, what)
}

// connInfo is what the audit knows of the connection a message came on.
type connInfo struct {
	id      int  // the dashboard's connection number
	resumed bool // dialled with a cursor
	live    bool // a resumed connection's catch-up is over (its counts message came)
	n       int  // messages on this connection so far
	began   time.Time
	kinds   []string // the kinds of its messages, runs merged
}

func (pc *proofClient) run(ctx context.Context, rng *rand.Rand, replicas []*replica, settle <-chan struct{}) error {
	for ctx.Err() == nil {
		r := replicas[rng.IntN(len(replicas))]
		if pc.steady {
			r = replicas[len(replicas)-1]
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		pc.mu.Lock()
		pc.audit.conns++
		info := connInfo{id: pc.audit.conns, resumed: pc.view.Cursor != "", began: time.Now()}
		var opts []wsclient.Option
		if pc.readBack {
			opts = append(opts, wsclient.WithoutHeld())
		}
		c, err := wsclient.Dial(dctx, "ws://"+r.addr, pc.filter, pc.token, &pc.view, opts...)
		pc.mu.Unlock()
		cancel()
		if c != nil {
			c.Mu = &pc.mu
		}
		if err != nil { // a replica restarting: try again shortly
			pc.failures.Add(1)
			sleepCtx(ctx, time.Duration(20+rng.IntN(100))*time.Millisecond)
			continue
		}
		pc.resumes.Add(1)
		// Stay connected a random while from the first message (until told
		// to settle), then drop. Counting from the first message makes every
		// connection get somewhere: a resume costs the server a count of the
		// dashboard's tickets, and on a loaded machine a client that hung up
		// on a timer would hang up before it, again and again.
		stay := time.Duration(100+rng.IntN(900)) * time.Millisecond
		rctx, rcancel := context.WithCancel(ctx)
		var drop *time.Timer
		select {
		case <-settle:
		default:
			if pc.steady {
				break
			}
			drop = time.AfterFunc(30*time.Second, rcancel) // a replica that never answers
		}
		var readErr error
		for started := false; ; started = true {
			m, err := c.Next(rctx)
			if err != nil {
				readErr = err
				break
			}
			if drop != nil && !started {
				drop.Reset(stay)
			}
			pc.mu.Lock()
			pc.check(m, &info)
			pc.mu.Unlock()
		}
		if drop != nil {
			drop.Stop()
		}
		rcancel()
		c.Conn.CloseNow()
		pc.mu.Lock()
		counts := pc.view.Counts
		pc.audit.connLog = append(pc.audit.connLog, fmt.Sprintf("%s connection %d to %s %s–%s: %s; ended by %v",
			connKind(&info), info.id, r.addr, stamp(info.began), stamp(time.Now()), strings.Join(info.kinds, " "), readErr))
		pc.mu.Unlock()
		if counts.Duplicates+counts.Regressions > 0 {
			return fmt.Errorf("%v: %d duplicates, %d regressions", pc, counts.Duplicates, counts.Regressions)
		}
		sleepCtx(ctx, time.Duration(rng.IntN(200))*time.Millisecond)
	}
	return nil
}

// check audits m, which the view has just applied. Caller holds pc.mu.
func (pc *proofClient) check(m *wsclient.Message, info *connInfo) {
	a := &pc.audit
	if a.held == nil {
		a.held, a.foreign, a.miscounted, a.foreignRemoval = map[int64]bool{}, map[int64]string{}, map[string]int{}, map[int64]bool{}
	}
	if a.history == nil {
		a.history = map[int64][]string{}
	}
	info.n++
	kind := m.Type
	switch {
	case m.Type == "changes" && info.resumed && !info.live:
		kind = "changes (catch-up)"
	case m.Type == "changes":
		kind = "changes (live)"
	case m.Type == "counts":
		info.live = true
	}
	if k := len(info.kinds); k > 0 && strings.HasPrefix(info.kinds[k-1], kind+"×") {
		var n int
		fmt.Sscanf(info.kinds[k-1][len(kind+"×"):], "%d", &n)
		info.kinds[k-1] = fmt.Sprintf("%s×%d", kind, n+1)
	} else {
		info.kinds = append(info.kinds, kind+"×1")
	}
	// What the message mentions: tickets it sends, ids it removes.
	foreign := 0
	mention := func(id int64, team string, removal bool) {
		if pc.teams == nil {
			return
		}
		ok := pc.audit.held[id]
		if !removal {
			ok = slices.Contains(pc.teams, team)
		}
		if ok {
			a.held[id] = true
			return
		}
		foreign++
		if _, seen := a.foreign[id]; !seen {
			what := fmt.Sprintf("a ticket of team %q", team)
			if removal {
				what = "a removal of a ticket never held"
				a.foreignRemoval[id] = true
			}
			a.foreign[id] = fmt.Sprintf("%s in a %s message (message %d of a %s connection)", what, kind, info.n, connKind(info))
		}
	}
	where := fmt.Sprintf("%s message %d of %s connection %d at %s", kind, info.n, connKind(info), info.id, stamp(time.Now()))
	for i := range m.Tickets {
		t := &m.Tickets[i]
		mention(t.ID, t.Team, false)
		a.remember(t.ID, fmt.Sprintf("row %s/%s at %s in %s", t.Team, t.Status, stamp(t.UpdatedAt), where))
	}
	for _, c := range m.Changes {
		if c.Op == "upsert" && c.Ticket != nil {
			mention(c.Ticket.ID, c.Ticket.Team, false)
			a.remember(c.ID, fmt.Sprintf("upsert %s/%s at %s in %s", c.Ticket.Team, c.Ticket.Status, stamp(c.Ticket.UpdatedAt), where))
		} else {
			mention(c.ID, "", true)
			a.remember(c.ID, "remove in "+where)
		}
	}
	if foreign > 0 {
		a.foreignMessages++
	}
	if m.Counts == nil || m.Sub != pc.view.Sub {
		return
	}
	a.countedMessages++
	if err := countsDescribe(m.Counts, &pc.view); err != nil {
		a.miscounted[kind]++
		if len(a.miscountExamples) < 3 {
			a.miscountExamples = append(a.miscountExamples, fmt.Sprintf("%s message %d of a %s connection: %v", kind, info.n, connKind(info), err))
		}
	}
}

func connKind(info *connInfo) string {
	if info.resumed {
		return "resumed"
	}
	return "fresh"
}

// countsDescribe checks pushed counts against the view that has applied
// them: the total, every bucket the counts name (a changes message names
// only those that moved, 0 meaning empty), and the counts accumulated over
// the subscription against the whole view.
func countsDescribe(c *wsclient.Totals, v *wsclient.View) error {
	status, team := map[string]int{}, map[string]int{}
	for _, t := range v.Tickets {
		status[string(t.Status)]++
		team[t.Team]++
	}
	var diffs []string
	if c.Total != len(v.Tickets) {
		diffs = append(diffs, fmt.Sprintf("total %d, the view holds %d", c.Total, len(v.Tickets)))
	}
	for _, b := range []struct {
		name       string
		said, held map[string]int
	}{{"status", c.Status, status}, {"team", c.Team, team}} {
		for _, k := range sortedKeys(b.said) {
			if b.said[k] != b.held[k] {
				diffs = append(diffs, fmt.Sprintf("%s %q %d, the view holds %d", b.name, k, b.said[k], b.held[k]))
			}
		}
	}
	if len(diffs) == 0 {
		if err := v.CheckTotals(); err != nil {
			diffs = append(diffs, "accumulated: "+err.Error())
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 4 {
			diffs = append(diffs[:4], fmt.Sprintf("and %d more", len(diffs)-4))
		}
		return fmt.Errorf("%s", strings.Join(diffs, "; "))
	}
	return nil
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// foreignReport says what a scoped dashboard heard of outside its scope:
// how many ids, and a few of them with where they came and where the
// ticket is now (teamOf; "" for deleted). Empty when nothing.
//
// A removal of a ticket the dashboard never held is no leak if the ticket
// was in one of the dashboard's teams at some time (former holds the teams
// each ticket left): a dashboard that resumes may hold any ticket that was
// in its teams while it was away, and the server, which cannot know which
// it holds, sends it the removal.
func (pc *proofClient) foreignReport(teamOf func(int64) (string, bool), former map[int64][]string) string {
	a := &pc.audit
	if len(a.foreign) == 0 {
		return ""
	}
	ids := make([]int64, 0, len(a.foreign))
	for id := range a.foreign {
		if a.foreignRemoval[id] && pc.wasInTeams(id, teamOf, former) {
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return ""
	}
	slices.Sort(ids)
	outside, inside, deleted := 0, 0, 0
	for _, id := range ids {
		switch team, ok := teamOf(id); {
		case !ok:
			deleted++
		case slices.Contains(pc.teams, team):
			inside++
		default:
			outside++
		}
	}
	var ex []string
	for _, id := range ids[:min(len(ids), 4)] {
		now := "deleted now"
		if team, ok := teamOf(id); ok {
			now = fmt.Sprintf("of team %q now", team)
		}
		ex = append(ex, fmt.Sprintf("id %d (%s): %s", id, now, a.foreign[id]))
	}
	return fmt.Sprintf("%v heard of %d ticket ids it never held, in %d messages (at the end %d are of other teams, %d of its own, %d deleted); e.g. %s",
		pc, len(ids), a.foreignMessages, outside, inside, deleted, strings.Join(ex, "; "))
}

// wasInTeams reports whether ticket id is, or ever was, in one of the
// dashboard's teams.
func (pc *proofClient) wasInTeams(id int64, teamOf func(int64) (string, bool), former map[int64][]string) bool {
	if team, ok := teamOf(id); ok && slices.Contains(pc.teams, team) {
		return true
	}
	for _, team := range former[id] {
		if slices.Contains(pc.teams, team) {
			return true
		}
	}
	return false
}
