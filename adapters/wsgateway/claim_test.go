package wsgateway_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// loadedView is the view of a dashboard of token's that received its
// whole snapshot and hung up: one to resume.
func (f *fixture) loadedView(t *testing.T, token string) *wsclient.View {
	t.Helper()
	view := &wsclient.View{}
	c := f.connect(t, "", token, view)
	defer c.Conn.CloseNow()
	// 30 s: a view of 5,000 tickets takes about 3 s to load under -race
	// alone, and took over 10 s in CI beside the rest of the suite.
	if err := c.WaitFor(context.Background(), 30*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	return view
}

// rowCounter counts the rows its store hands to snapshots and restores.
type rowCounter struct {
	*gormstore.Store
	rows atomic.Int64
}

func (r *rowCounter) StreamTickets(ctx context.Context, q domain.Query, n int, h ports.BatchHandler) error {
	return r.Store.StreamTickets(ctx, q, n, ports.BatchHandlerFunc(func(b []domain.Ticket) error {
		r.rows.Add(int64(len(b)))
		return h.HandleBatch(b)
	}))
}

// A billing dashboard of 2,000 tickets hangs up; meanwhile tickets move
// out of billing, are deleted, edited, inserted, and sales tickets change.
// It resumes claiming what it holds: the server reads none of its filter
// back — only what changed, by position — and the dashboard ends equal to
// a fresh one, with counts that match, having heard nothing of sales. The
// same resume without the claim reads the filter back (on SQLite, where
// the departures cannot be vouched for, it starts afresh): the control.
func TestResume_AClaimReadsNoRowOfTheFilterRealDatabase(t *testing.T) {
	for _, d := range []gormstore.Dialect{gormstore.SQLite, gormstore.Postgres} {
		for _, claim := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/claim=%v", d, claim), func(t *testing.T) {
				t.Parallel()
				resumeWithClaim(t, d, claim)
			})
		}
	}
}

func resumeWithClaim(t *testing.T, d gormstore.Dialect, claim bool) {
	tickets := demodata.New(1601).Tickets(3000)
	for i := range tickets {
		tickets[i].Team = []string{"billing", "billing", "sales"}[i%3]
	}
	counter := &rowCounter{}
	store, hub, base := storeGatewayReading(t, d, tickets, gatewayWraps{source: func(s *gormstore.Store) ports.TicketSource {
		counter.Store = s
		return counter
	}})
	waitDispatched(t, store, hub)
	ctx := context.Background()
	view := &wsclient.View{}
	c, err := wsclient.Dial(ctx, base, "", "billing", view)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, 30*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	c.Conn.CloseNow()
	held := len(view.Tickets)
	var billing, sales []domain.Ticket
	for _, tk := range tickets {
		if tk.Team == "billing" {
			billing = append(billing, tk)
		} else {
			sales = append(sales, tk)
		}
	}
	later := func(tk domain.Ticket) domain.Ticket { tk.UpdatedAt = tk.UpdatedAt.Add(time.Hour); return tk }
	for _, tk := range billing[:3] {
		tk = later(tk)
		tk.Team = "sales"
		if err := store.UpdateTicket(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	for _, tk := range billing[3:5] {
		if err := store.DeleteTicket(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, tk := range append(append([]domain.Ticket(nil), billing[5:10]...), sales[:5]...) {
		tk = later(tk)
		tk.Subject, tk.Status = "edited while away", domain.StatusPending
		if err := store.UpdateTicket(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	fresh := demodata.New(1602).Tickets(2)
	for i := range fresh {
		fresh[i].ID, fresh[i].Team = 900_000+int64(i), "billing"
	}
	if err := store.InsertTickets(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	waitDispatched(t, store, hub)
	before := counter.rows.Load()
	var opts []wsclient.Option
	if !claim {
		opts = append(opts, wsclient.WithoutHeld())
	}
	c, err = wsclient.Dial(ctx, base, "", "billing", view, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Conn.CloseNow() }()
	var seen []wsclient.Change
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// On SQLite, tickets left billing meanwhile: a resume read back starts
	// afresh (its departures cannot be told from ones inside a transaction).
	resyncs, resynced := d == gormstore.SQLite && !claim, false
	for counted := false; !counted; { // a resumed dashboard's counts come once it holds what they count
		m, err := c.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, m.Changes...)
		resynced = resynced || m.Type == "resync"
		counted = m.Type == "counts" || (resynced && m.Type == "end")
	}
	if resynced != resyncs {
		t.Errorf("resync %v, want %v", resynced, resyncs)
	}
	// A marker after the resume: once it is in the view, so is the rest.
	marker := later(later(billing[20]))
	marker.Subject = "marker"
	if err := store.UpdateTicket(ctx, marker); err != nil {
		t.Fatal(err)
	}
	for view.Tickets[marker.ID].Subject != "marker" {
		m, err := c.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, m.Changes...)
	}
	read := counter.rows.Load() - before
	if claim && read != 0 {
		t.Errorf("the resume read %d rows of the filter back; the claim of %d tickets should spare it", read, held)
	}
	if !claim && read < int64(held)-5 {
		t.Errorf("the resume without a claim read %d rows, want the filter's (about %d): the control is not one", read, held)
	}
	other := &wsclient.View{}
	oc, err := wsclient.Dial(ctx, base, "", "billing", other)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Conn.CloseNow()
	if err := oc.WaitFor(ctx, 30*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	if len(view.Tickets) != len(other.Tickets) {
		t.Fatalf("the resumed view holds %d tickets, a fresh one %d", len(view.Tickets), len(other.Tickets))
	}
	for id, tk := range other.Tickets {
		if got, ok := view.Tickets[id]; !ok || got.Subject != tk.Subject || got.Team != tk.Team || got.Status != tk.Status {
			t.Fatalf("ticket %d: resumed view %+v (held %v), fresh view %+v", id, got, ok, tk)
		}
	}
	if err := view.CheckTotals(); err != nil {
		t.Errorf("counts after the resume: %v", err)
	}
	for _, ch := range seen {
		for _, tk := range sales {
			if ch.ID == tk.ID || (ch.Ticket != nil && ch.Ticket.ID == tk.ID) {
				t.Errorf("the billing dashboard heard %s of sales ticket %d", ch.Op, tk.ID)
			}
		}
	}
}

// A claim the cursor's digest does not vouch for — one ticket more, of
// sales, outside the token's scope — is not believed: the view is read
// back, nothing of the sales ticket reaches the socket though it changes
// during the resume, and the billing tickets end right.
func TestResume_AClaimTheCursorDoesNotVouchForIsReadBack(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(1603).Tickets(40)
	for i := range tickets {
		tickets[i].Team = []string{"billing", "sales"}[i%2]
	}
	f := newFixture(t, tickets, wsgateway.Options{})
	f.waitHubIdle(t)
	view := f.loadedView(t, "billing")
	secret := tickets[1] // sales
	view.Tickets[secret.ID] = secret
	secret.Subject, secret.UpdatedAt = "changed during the resume", secret.UpdatedAt.Add(time.Hour)
	f.feed.Put(secret)
	c, err := wsclient.Dial(context.Background(), f.base(), "", "billing", view)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Conn.CloseNow() }()
	marker := tickets[0] // billing
	marker.Subject, marker.UpdatedAt = "marker", marker.UpdatedAt.Add(time.Hour)
	f.feed.Put(marker)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for view.Tickets[marker.ID].Subject != "marker" {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range m.Changes {
			if ch.ID == secret.ID || (ch.Ticket != nil && ch.Ticket.ID == secret.ID) {
				t.Fatalf("the billing dashboard heard %s of sales ticket %d it only claimed", ch.Op, secret.ID)
			}
		}
	}
	// One ticket more than the cursor's dashboard held: the count alone
	// tells the claim cannot match, and it is not kept.
	if !strings.Contains(f.logs.String(), "another number of held tickets") {
		t.Error("the log does not say the claim was not believed")
	}
	delete(view.Tickets, secret.ID) // the client's own lie
	for _, tk := range f.feed.Tickets() {
		if _, ok := view.Tickets[tk.ID]; ok != (tk.Team == "billing") {
			t.Fatalf("ticket %d of %s: in the billing view %v", tk.ID, tk.Team, ok)
		}
	}
}

// What a client may get wrong about held tickets closes its socket with
// 1008 and a reason, or refuses the upgrade with 400: never a hang, never a
// claim taken on faith.
func TestResume_HeldMessagesOutOfTurnAreRefused(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(1604).Tickets(10)
	f := newFixture(t, tickets, wsgateway.Options{})
	f.gw.SetClaimWait(300 * time.Millisecond)
	f.waitHubIdle(t)
	view := f.loadedView(t, "admin")
	cursor := view.Cursor
	// As many as the cursor's dashboard held: a claim of another number
	// is dropped as it comes, unread (see AClaimOfAnotherCount...).
	held := fmt.Sprintf("held=%d&cursor=%s", len(view.Tickets), cursor)
	one := `{"type":"held","teams":["` + tickets[0].Team + `"],"tickets":"` + wsgateway.EncodeHeld(nil) + `"}`
	two := `{"type":"held","teams":["a"],"tickets":"AgABBAAB"}` // two tickets
	const policy, later = websocket.StatusPolicyViolation, websocket.StatusTryAgainLater
	for _, tc := range []struct {
		name, query string
		send        []string
		code        websocket.StatusCode
		reason      string
	}{
		{"a held message nobody announced", "", []string{two}, policy, "held"},
		{"more tickets than announced", "held=1&cursor=" + cursor, []string{two}, policy, "more tickets than"},
		{"a subscribe before the tickets announced", "held=3&cursor=" + cursor, []string{two, `{"type":"subscribe","query":""}`}, policy, "still to come"},
		{"malformed tickets", "held=1&cursor=" + cursor, []string{`{"type":"held","teams":["a"],"tickets":"!!"}`}, policy, "held"},
		{"a held message with a query", "held=1&cursor=" + cursor, []string{`{"type":"held","query":"team=a"}`}, policy, "query"},
		{"a team name too long", held, []string{`{"type":"held","teams":["` + strings.Repeat("x", 600) + `"],"tickets":"AgAB"}`}, policy, "team name"},
		// A client too slow to send what it announced may resume without.
		{"announced, never sent", held, nil, later, "did not all come"},
		{"announced, one sent", held, []string{one}, later, "did not all come"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, f.url(tc.query), "admin")
			for _, m := range tc.send {
				_ = c.Write(context.Background(), websocket.MessageText, []byte(m))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for {
				_, _, err := c.Read(ctx)
				if err == nil {
					continue
				}
				var ce websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != tc.code || !strings.Contains(ce.Reason, tc.reason) {
					t.Fatalf("closed with %v, want %v saying %q", err, tc.code, tc.reason)
				}
				return
			}
		})
	}
	for _, q := range []string{"held=abc&cursor=" + cursor, "held=-1&cursor=" + cursor, "held=99999999&cursor=" + cursor, "held=1", "held=1&held=2&cursor=" + cursor} {
		_, resp, err := websocket.Dial(context.Background(), f.url(q), &websocket.DialOptions{Subprotocols: []string{wsgateway.Subprotocol, wsgateway.BearerPrefix + "admin"}})
		if err == nil || resp == nil || resp.StatusCode != 400 {
			t.Errorf("upgrade with %s: %v (%v), want 400", q, err, resp)
		}
	}
}

// Claimed team names count against the memory budget like the view they
// may become: a socket that claims its 5,000 tickets each of its own long
// team is closed with 1013 once past the budget (2 MB), and keeps nothing.
func TestResume_AClaimCountsAgainstTheMemoryBudget(t *testing.T) {
	t.Parallel()
	const n = 5_000
	tickets := demodata.New(1605).Tickets(n) // the cursor's dashboard holds n
	f := newFixtureWith(t, tickets, wsgateway.Options{}, app.HubConfig{MemoryBudget: 2 << 20})
	f.waitHubIdle(t)
	view := f.loadedView(t, "admin")
	ws := dial(t, f.url(fmt.Sprintf("held=%d&cursor=%s", n, view.Cursor)), "admin")
	pad := strings.Repeat("x", 480)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		for i := range n {
			m := fmt.Sprintf(`{"type":"held","teams":["%s%08d"],"tickets":"%s"}`, pad, i, wsgateway.EncodeHeld([]app.HeldTicket{{ID: int64(i + 1), Status: domain.StatusOpen}}))
			if ws.Write(ctx, websocket.MessageText, []byte(m)) != nil {
				return
			}
		}
	}()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != websocket.StatusTryAgainLater {
			t.Fatalf("closed with %v, want 1013 for the memory budget", err)
		}
		break
	}
	// The claim is let go when the subscription ends, after the socket's
	// close, while this client is still sending: on a loaded machine (the
	// package's other tests at once, and more) that took over 10 s once.
	portstest.WaitFor(t, 30*time.Second, "the claim's memory given back", func() bool { return f.hub.Stats().MemoryBytes < 1<<20 })
}

// TestResume_AClaimOfAnotherCountCostsNothing: a resume that announces
// more held tickets than its cursor's dashboard held — 20 tickets, 5,000
// claimed, each of a long team name — cannot match the cursor, so the
// claim is dropped as it comes: nothing counts against the memory budget
// (2 MB, which the claim would pass), other dashboards are
// served, and the resumed one is read back and goes live.
func TestResume_AClaimOfAnotherCountCostsNothing(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(1606).Tickets(20)
	f := newFixtureWith(t, tickets, wsgateway.Options{}, app.HubConfig{MemoryBudget: 2 << 20})
	f.waitHubIdle(t)
	view := f.loadedView(t, "admin")
	const n = 5_000
	ws := dial(t, f.url(fmt.Sprintf("held=%d&cursor=%s", n, view.Cursor)), "admin")
	pad := strings.Repeat("x", 480)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The socket is read meanwhile, as a client does: one that stops
	// reading is closed as too slow.
	read := make(chan []byte, 16)
	go func() {
		defer close(read)
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			read <- data
		}
	}()
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			m := fmt.Sprintf(`{"type":"held","teams":["%s%08d"],"tickets":"%s"}`, pad, i, wsgateway.EncodeHeld([]app.HeldTicket{{ID: int64(i + 1), Status: domain.StatusOpen}}))
			if err := ws.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				sent <- err
				return
			}
			if mem := f.hub.Stats().MemoryBytes; i%100 == 0 && mem > 1<<20 {
				sent <- fmt.Errorf("after %d claimed tickets the live views keep %d bytes", i+1, mem)
				return
			}
		}
		sent <- nil
	}()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	other, err := wsclient.Dial(ctx, f.base(), "", "admin", &wsclient.View{})
	if err != nil {
		t.Fatalf("another dashboard: %v", err)
	}
	other.Conn.CloseNow()
	marker := tickets[0]
	marker.Subject, marker.UpdatedAt = "after the claim", marker.UpdatedAt.Add(time.Hour)
	f.feed.Put(marker)
	for data := range read {
		if strings.Contains(string(data), "after the claim") {
			break
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the resumed socket did not go live")
	}
	if !strings.Contains(f.logs.String(), "another number of held tickets") {
		t.Error("the log does not say why the claim was not kept")
	}
}

// resumeCounter is a wsgateway.Observer that counts resumes by kind.
type resumeCounter struct {
	mu  sync.Mutex
	how map[string]int
}

func (r *resumeCounter) MessageSent(int)          {}
func (r *resumeCounter) ChangeSent(time.Duration) {}
func (r *resumeCounter) SlowClosed()              {}
func (r *resumeCounter) Resumed(how string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.how[how]++
}

func (r *resumeCounter) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.how)
}

// Each resume is told to the observer as what it was: claimed (the Go
// client says what it holds unless told not to), read back, or refused.
func TestResume_EachResumeIsCountedByHowItResumed(t *testing.T) {
	t.Parallel()
	rec := &resumeCounter{how: map[string]int{}}
	f := newFixtureWith(t, demodata.New(1605).Tickets(30), wsgateway.Options{}, app.HubConfig{}, func(gw *wsgateway.Gateway) { gw.SetObserver(rec) })
	f.waitHubIdle(t)
	view := f.loadedView(t, "admin")
	resume := func(opts ...wsclient.Option) {
		t.Helper()
		c, err := wsclient.Dial(context.Background(), f.base(), "", "admin", view, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Conn.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for { // live again once the counts come (at the snapshot's end after a resync)
			m, err := c.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Type == "counts" || m.Type == "end" {
				return
			}
		}
	}
	resume()
	resume(wsclient.WithoutHeld())
	resume()
	view.Cursor = view.Cursor[:len(view.Cursor)-2] + "AA" // forged: resync
	resume()
	want := map[string]int{wsgateway.ResumeClaimed: 2, wsgateway.ResumeReadBack: 1, wsgateway.ResumeRefused: 1}
	if got := rec.counts(); !maps.Equal(got, want) {
		t.Fatalf("resumes counted %v, want %v", got, want)
	}
}
