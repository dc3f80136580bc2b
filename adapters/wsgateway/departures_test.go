package wsgateway_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/app/apptest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// storeGateway serves a gateway over a real, migrated database of dialect d
// holding tickets, with its hub running, and returns the base URL of its
// sockets.
func storeGateway(t *testing.T, d gormstore.Dialect, tickets []domain.Ticket) (*gormstore.Store, *app.Hub, string) {
	t.Helper()
	return storeGatewayReading(t, d, tickets, gatewayWraps{})
}

// gatewayWraps puts test doubles around the store a gateway reads: source
// for its snapshots and restores, feed for its hub's change feed; nil
// leaves the store itself.
type gatewayWraps struct {
	source func(*gormstore.Store) ports.TicketSource
	feed   func(*gormstore.Store) ports.ChangeFeed
}

// storeGatewayReading is storeGateway reading through wraps.
func storeGatewayReading(t *testing.T, d gormstore.Dialect, tickets []domain.Ticket, wraps gatewayWraps) (*gormstore.Store, *app.Hub, string) {
	t.Helper()
	url := "sqlite:" + filepath.Join(t.TempDir(), "tickets.db")
	if d == gormstore.Postgres {
		pgtest.Require(t)
		url = pgtest.NewDatabase(t)
	}
	ctx := context.Background()
	migrated, closeStore, err := gormstore.Open(ctx, gormstore.Config{URL: url, Migrate: true}, nil)
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	defer closeStore()
	if err := migrated.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	return gatewayReading(t, url, 0, wraps)
}

// gatewayOn serves a gateway, with a store and hub of its own, over the
// database at url (migrated already): another replica when there is one.
// batch is the hub's feed batch (0: the default).
func gatewayOn(t *testing.T, url string, batch int) (*gormstore.Store, *app.Hub, string) {
	t.Helper()
	return gatewayReading(t, url, batch, gatewayWraps{})
}

// gatewayReading is gatewayOn reading through wraps.
func gatewayReading(t *testing.T, url string, batch int, wraps gatewayWraps) (*gormstore.Store, *app.Hub, string) {
	t.Helper()
	ctx := context.Background()
	store, closeStore, err := gormstore.Open(ctx, gormstore.Config{URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStore)
	var src ports.TicketSource = store
	if wraps.source != nil {
		src = wraps.source(store)
	}
	var feed ports.ChangeFeed = store
	if wraps.feed != nil {
		feed = wraps.feed(store)
	}
	streamer, err := app.NewStreamer(src, apptest.Poisoned(app.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	hub, err := app.NewHub(feed, apptest.PoisonedHub(app.HubConfig{PollInterval: 5 * time.Millisecond, BatchSize: batch}), nil)
	if err != nil {
		t.Fatal(err)
	}
	hubCtx, stopHub := context.WithCancel(ctx)
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); _ = hub.Run(hubCtx) }()
	cursors, err := domain.NewCursorSealer([]byte(testCursorKey))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if dir := os.Getenv("TICKETSTREAM_TEST_GATEWAY_LOG"); dir != "" { // to read beside a failure
		f, err := os.CreateTemp(dir, strings.NewReplacer("/", "_").Replace(t.Name())+"-*.log")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	gw, err := wsgateway.New(streamer, hub, cursors, tokens, wsgateway.Options{}, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		_ = gw.Shutdown(context.Background())
		srv.Close()
		stopHub()
		<-hubDone
	})
	return store, hub, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// waitDispatched waits until hub has dispatched every change committed to
// store so far.
func waitDispatched(t *testing.T, store *gormstore.Store, hub *app.Hub) {
	t.Helper()
	portstest.WaitFor(t, 30*time.Second, "the hub to dispatch every change", func() bool {
		h, err := store.Horizon(context.Background()) // every commit so far
		return err == nil && hub.Position().Includes(h)
	})
}

// A billing dashboard that resumes, on a real database, gets the removal of
// the tickets it held that left billing while it was away — moved to sales,
// or deleted — and hears nothing of sales tickets deleted or changed
// meanwhile, not even their ids.
func TestResume_RealDatabaseRemovesWhatLeftTheScopeAndNothingElse(t *testing.T) {
	for _, d := range []gormstore.Dialect{gormstore.SQLite, gormstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(31).Tickets(12)
			for i := range tickets {
				tickets[i].Team = []string{"billing", "sales"}[i%2]
			}
			movedOut, deleted, kept := tickets[0], tickets[2], tickets[4] // billing
			salesDeleted, salesEdited, salesMoved := tickets[1], tickets[3], tickets[5]
			store, hub, base := storeGateway(t, d, tickets)
			ctx := context.Background()
			waitHubIdle := func() { t.Helper(); waitDispatched(t, store, hub) }
			waitHubIdle()

			view := &wsclient.View{}
			c, err := wsclient.Dial(ctx, base, "", "billing", view)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
				t.Fatal(err)
			}
			if _, ok := view.Tickets[movedOut.ID]; !ok || len(view.Tickets) != 6 {
				t.Fatalf("the billing dashboard holds %d tickets, want the 6 of billing", len(view.Tickets))
			}
			c.Conn.CloseNow()

			// While it is away.
			update := func(tk domain.Ticket, team, subject string) {
				t.Helper()
				tk.Team, tk.Subject, tk.UpdatedAt = team, subject, tk.UpdatedAt.Add(time.Hour)
				if err := store.UpdateTicket(ctx, tk); err != nil {
					t.Fatal(err)
				}
			}
			update(movedOut, "sales", movedOut.Subject)
			update(salesEdited, "sales", "edited while billing was away")
			update(salesMoved, "security", salesMoved.Subject)
			for _, id := range []int64{deleted.ID, salesDeleted.ID} {
				if err := store.DeleteTicket(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			waitHubIdle() // the resume catches up on all of it

			c, err = wsclient.Dial(ctx, base, "", "billing", view)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Conn.CloseNow()
			heard := map[int64]string{}
			next := func(until func() bool) {
				t.Helper()
				deadline, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				for !until() {
					m, err := c.Next(deadline)
					if err != nil {
						t.Fatalf("read: %v (heard %v)", err, heard)
					}
					if m.Type == "resync" {
						t.Fatal("a resume within the retained history was answered with resync")
					}
					for _, ch := range m.Changes {
						heard[ch.ID] = ch.Op
						if ch.Ticket != nil {
							heard[ch.Ticket.ID] = ch.Op
						}
					}
					for _, tk := range m.Tickets {
						heard[tk.ID] = "snapshot"
					}
				}
			}
			next(func() bool { return view.SnapshotDone })
			// A change after the resume marks the end of what it may hear.
			update(kept, "billing", "marker")
			next(func() bool { return view.Tickets[kept.ID].Subject == "marker" })

			for _, id := range []int64{salesDeleted.ID, salesEdited.ID, salesMoved.ID} {
				if op, ok := heard[id]; ok {
					t.Errorf("the billing dashboard heard %s of sales ticket %d", op, id)
				}
			}
			for _, id := range []int64{movedOut.ID, deleted.ID} {
				if heard[id] != "remove" {
					t.Errorf("billing ticket %d left billing while the dashboard was away: heard %q, want its removal", id, heard[id])
				}
				if _, ok := view.Tickets[id]; ok {
					t.Errorf("the resumed view still shows ticket %d, which left billing", id)
				}
			}
			if len(view.Tickets) != 4 {
				t.Errorf("the resumed view holds %d tickets, want the 4 still in billing", len(view.Tickets))
			}
			c.Close()
		})
	}
}

// A billing dashboard resumes after one of its tickets left billing and
// many other billing tickets changed, then hangs up after the first message
// — a phone that loses its signal — and resumes again: the ticket that left
// must still go. The catch-up's first message moves the cursor past the
// departure; were the removal sent after the catch-up, the second resume
// would start beyond it and never hear of it.
func TestResume_ADashboardThatHangsUpDuringTheCatchUpStillDropsWhatLeft(t *testing.T) {
	for _, d := range []gormstore.Dialect{gormstore.SQLite, gormstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(32).Tickets(300)
			for i := range tickets {
				tickets[i].Team = "billing"
			}
			left := tickets[0]
			store, hub, base := storeGateway(t, d, tickets)
			ctx := context.Background()
			waitHubIdle := func() { t.Helper(); waitDispatched(t, store, hub) }
			waitHubIdle()
			view := &wsclient.View{}
			dial := func() *wsclient.Client {
				t.Helper()
				c, err := wsclient.Dial(ctx, base, "", "billing", view)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			c := dial()
			if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
				t.Fatal(err)
			}
			c.Conn.CloseNow()

			// While it is away: the ticket leaves billing, 250 others change
			// (more than one catch-up message), and the ticket changes again.
			update := func(tk domain.Ticket, team, subject string) {
				t.Helper()
				tk.Team, tk.Subject, tk.UpdatedAt = team, subject, tk.UpdatedAt.Add(time.Hour)
				if err := store.UpdateTicket(ctx, tk); err != nil {
					t.Fatal(err)
				}
			}
			update(left, "sales", left.Subject)
			for _, tk := range tickets[1:251] {
				update(tk, "billing", "edited while away")
			}
			left.UpdatedAt = left.UpdatedAt.Add(time.Hour)
			update(left, "sales", "edited again in sales")
			waitHubIdle()

			c = dial()
			if _, err := c.Next(ctx); err != nil {
				t.Fatal(err)
			}
			c.Conn.CloseNow() // after one message

			c = dial()
			defer c.Conn.CloseNow()
			var live bool
			if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool {
				live = live || v.Totals.Status != nil && v.Tickets[tickets[250].ID].Subject == "edited while away"
				return live
			}); err != nil {
				t.Fatal(err)
			}
			if _, ok := view.Tickets[left.ID]; ok {
				t.Errorf("ticket %d left billing while the dashboard was away, yet it still shows it after two resumes", left.ID)
			}
			if len(view.Tickets) != 299 {
				t.Errorf("the view holds %d tickets, want the 299 still in billing", len(view.Tickets))
			}
		})
	}
}
