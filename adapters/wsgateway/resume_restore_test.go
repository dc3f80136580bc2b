package wsgateway_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
)

// pausingSource is the store, with a hook run once (when armed) after a
// page was read and before it is handed over: a scheduling pause.
type pausingSource struct {
	*gormstore.Store
	armed atomic.Bool
	hook  func()
}

func (p *pausingSource) StreamTickets(ctx context.Context, q domain.Query, n int, h ports.BatchHandler) error {
	return p.Store.StreamTickets(ctx, q, n, ports.BatchHandlerFunc(func(b []domain.Ticket) error {
		if p.armed.CompareAndSwap(true, false) {
			p.hook()
		}
		return h.HandleBatch(b)
	}))
}

// A ticket the dashboard holds leaves billing — moved to sales, or deleted —
// while its resume restores the view: after the restore has read the
// ticket's row and before the view holds it, with the hub dispatching the
// change in between. On the real databases, through the real socket: the
// resumed dashboard must drop the ticket, and get its counts.
func TestResumeHostile_ATicketGoneWhileTheRestoreReadsIsRemovedRealDatabase(t *testing.T) {
	for _, tc := range []struct {
		d   gormstore.Dialect
		del bool
	}{{gormstore.SQLite, false}, {gormstore.SQLite, true}, {gormstore.Postgres, false}, {gormstore.Postgres, true}} {
		name := string(tc.d) + "/moved"
		if tc.del {
			name = string(tc.d) + "/deleted"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			goneWhileRestoring(t, tc.d, tc.del)
		})
	}
}

func goneWhileRestoring(t *testing.T, d gormstore.Dialect, del bool) {
	tickets := demodata.New(4242).Tickets(6)
	for i := range tickets {
		tickets[i].Team, tickets[i].Status = "billing", domain.StatusOpen
	}
	ctx := context.Background()
	src := &pausingSource{}
	store, hub, base := storeGatewayReading(t, d, tickets, func(s *gormstore.Store) ports.TicketSource {
		src.Store = s
		return src
	})
	waitDispatched(t, store, hub)

	view := &wsclient.View{}
	c, err := wsclient.Dial(ctx, base, "", "billing", view)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	c.Conn.CloseNow()
	victim := tickets[len(tickets)-1]
	if _, ok := view.Tickets[victim.ID]; !ok {
		t.Fatalf("dashboard does not hold %d", victim.ID)
	}
	// The restore's page is read; before it is held, the victim leaves
	// billing and the hub dispatches that (the resumed view is not yet restored).
	src.hook = func() {
		if del {
			if err := store.DeleteTicket(ctx, victim.ID); err != nil {
				t.Error(err)
			}
		} else {
			v := victim
			v.Team, v.UpdatedAt = "sales", v.UpdatedAt.Add(time.Hour)
			if err := store.UpdateTicket(ctx, v); err != nil {
				t.Error(err)
			}
		}
		waitDispatched(t, store, hub)
	}
	src.armed.Store(true)
	c, err = wsclient.Dial(ctx, base, "", "billing", view, wsclient.WithoutHeld()) // the view is read back
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Conn.CloseNow() }()
	deadline, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	gotCounts := false
	for !gotCounts {
		m, err := c.Next(deadline)
		if err != nil {
			break
		}
		gotCounts = m.Type == "counts"
	}
	if src.armed.Load() {
		t.Fatal("hook never ran")
	}
	if _, ok := view.Tickets[victim.ID]; ok {
		t.Errorf("%s: ticket %d left billing (deleted=%v) during the resume; the resumed billing dashboard still shows it", d, victim.ID, del)
	}
	if !gotCounts {
		t.Errorf("%s: no counts message within 5s of the resume", d)
	}
}
