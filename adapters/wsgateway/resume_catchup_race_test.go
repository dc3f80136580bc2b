package wsgateway_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// hookFeed runs hook (once) when a catch-up read (until set) hands its first
// page over: after the database was read, before the handler (Expect) runs.
type hookFeed struct {
	*gormstore.Store
	mu   sync.Mutex
	hook func()
}

func (f *hookFeed) ReadChanges(ctx context.Context, after, until domain.ChangePos, n int, h ports.ChangeHandler) (domain.ChangePos, error) {
	if until.IsZero() {
		return f.Store.ReadChanges(ctx, after, until, n, h)
	}
	return f.Store.ReadChanges(ctx, after, until, n, ports.ChangeHandlerFunc(func(b []ports.Change) error {
		f.mu.Lock()
		hook := f.hook
		f.hook = nil
		f.mu.Unlock()
		if hook != nil {
			hook()
		}
		return h.HandleChanges(b)
	}))
}

// A dashboard of status=open resumes while a ticket it never held arrives;
// the catch-up's page is read from PostgreSQL and, before its handler
// runs, the ticket leaves the filter and the hub offers that live. Claimed
// or read back, the dashboard must not keep the ticket (found by an
// attack: claimed, it did).
func TestResumeHostile_ALiveChangeBetweenTheCatchUpReadAndItsHandlerRealDatabase(t *testing.T) {
	for _, claim := range []bool{true, false} {
		t.Run(fmt.Sprintf("claim=%v", claim), func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(77).Tickets(5)
			for i := range tickets {
				tickets[i].Team, tickets[i].Status = "billing", domain.StatusOpen
			}
			var feed *hookFeed
			store, hub, base := storeGatewayReading(t, gormstore.Postgres, tickets[:4], gatewayWraps{feed: func(s *gormstore.Store) ports.ChangeFeed {
				feed = &hookFeed{Store: s}
				return feed
			}})
			ctx := context.Background()
			waitDispatched(t, store, hub)

			view := &wsclient.View{}
			c, err := wsclient.Dial(ctx, base, "status=open", "admin", view)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
				t.Fatal(err)
			}
			c.Conn.CloseNow()
			if len(view.Tickets) != 4 {
				t.Fatalf("holds %d", len(view.Tickets))
			}
			// While away: a new open ticket (the catch-up brings it).
			arriving := tickets[4]
			if err := store.InsertTickets(ctx, []domain.Ticket{arriving}); err != nil {
				t.Fatal(err)
			}
			waitDispatched(t, store, hub)
			// The catch-up's page is read; before its handler runs, the
			// arriving ticket leaves the filter and the hub offers that live.
			hooked := make(chan struct{})
			feed.mu.Lock()
			feed.hook = func() {
				defer close(hooked)
				a := arriving
				a.Status, a.UpdatedAt = domain.StatusPending, a.UpdatedAt.Add(time.Hour)
				if err := store.UpdateTicket(ctx, a); err != nil {
					t.Error(err)
				}
				waitDispatched(t, store, hub)
			}
			feed.mu.Unlock()
			var opts []wsclient.Option
			if !claim {
				opts = append(opts, wsclient.WithoutHeld())
			}
			c, err = wsclient.Dial(ctx, base, "status=open", "admin", view, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Conn.CloseNow()
			// A marker: a later change the dashboard must see.
			select {
			case <-hooked:
			case <-time.After(20 * time.Second):
				t.Fatal("no catch-up read")
			}
			m := tickets[0]
			m.Subject, m.UpdatedAt = "marker", m.UpdatedAt.Add(2*time.Hour)
			if err := store.UpdateTicket(ctx, m); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.Tickets[m.ID].Subject == "marker" }); err != nil {
				t.Fatal(err)
			}
			if got, ok := view.Tickets[arriving.ID]; ok {
				t.Errorf("the dashboard of status=open holds ticket %d (%s), pending in the database", arriving.ID, got.Status)
			}
			if err := view.CheckTotals(); err != nil {
				t.Error(err)
			}
		})
	}
}
