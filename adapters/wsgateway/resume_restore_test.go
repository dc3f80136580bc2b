package wsgateway_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/wsgateway"
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
	store, hub, base := storeGatewayReading(t, d, tickets, gatewayWraps{source: func(s *gormstore.Store) ports.TicketSource {
		src.Store = s
		return src
	}})
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

// X, held by a billing dashboard since its snapshot, left billing; the
// dashboard's cursor is past that change without it (a later change of X,
// after the cursor, carried it past), and the departure is pruned while the
// cursor is still within the history. Read back from the database, the
// resume cannot know the dashboard holds X: it gets resync and a fresh
// snapshot. Saying what it holds, it resumes and is told to drop X.
func TestResume_DeparturesPrunedSinceTheSnapshot(t *testing.T) {
	t.Parallel()
	for _, readBack := range []bool{true, false} {
		name := "claimed"
		if readBack {
			name = "read back"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(1606).Tickets(6)
			for i := range tickets {
				tickets[i].Team = "billing"
			}
			x, other := tickets[0], tickets[1]
			f := newFixture(t, tickets, wsgateway.Options{})
			f.waitHubIdle(t)
			view := f.loadedView(t, "billing")
			lc, err := f.cursors.OpenLiveCursor(view.Cursor)
			if err != nil {
				t.Fatal(err)
			}
			x.Team, x.UpdatedAt = "sales", x.UpdatedAt.Add(time.Hour)
			f.feed.Put(x) // leaves billing
			other.Subject, other.UpdatedAt = "edited", other.UpdatedAt.Add(time.Hour)
			lc.Live = f.feed.Put(other) // the cursor the dashboard hung up with
			x.Subject, x.UpdatedAt = "edited in sales", x.UpdatedAt.Add(time.Hour)
			f.feed.Put(x)
			if _, err := f.feed.PruneRemovals(context.Background(), time.Now().Add(time.Hour), lc.Live); err != nil {
				t.Fatal(err)
			}
			f.waitHubIdle(t)
			view.Cursor = f.cursors.LiveCursorString(lc)
			var opts []wsclient.Option
			if readBack {
				opts = append(opts, wsclient.WithoutHeld())
			}
			c, err := wsclient.Dial(context.Background(), f.base(), "", "billing", view, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Conn.CloseNow()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var kinds []string
			for live := false; !live; {
				m, err := c.Next(ctx)
				if err != nil {
					t.Fatalf("after %v: %v", kinds, err)
				}
				kinds = append(kinds, m.Type)
				if m.Type == "resync" && !strings.Contains(m.Reason, "change retention") {
					t.Errorf("resync says %q: not why", m.Reason)
				}
				live = m.Type == "counts" || m.Type == "end"
			}
			if resynced := slices.Contains(kinds, "resync"); resynced != readBack {
				t.Errorf("messages %v: resync %v, want %v", kinds, resynced, readBack)
			}
			if _, ok := view.Tickets[x.ID]; ok {
				t.Errorf("the billing dashboard still shows ticket %d, in sales (messages %v)", x.ID, kinds)
			}
			if len(view.Tickets) != len(tickets)-1 {
				t.Errorf("the view holds %d tickets, want %d", len(view.Tickets), len(tickets)-1)
			}
			if err := view.CheckTotals(); err != nil {
				t.Error(err)
			}
		})
	}
}
