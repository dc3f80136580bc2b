package gormstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

var errInjected = errors.New("injected: connection lost")

// flakyFeed fails a read after a number of batches, as a read whose
// connection drops between pages does; hook runs just before.
type flakyFeed struct {
	ports.ChangeFeed
	mu        sync.Mutex
	plan      []func() // one per failing read: runs, then the read fails after its first batch
	failed    int
	delivered []ports.Change
}

func (f *flakyFeed) ReadChanges(ctx context.Context, after, until domain.ChangePos, n int, h ports.ChangeHandler) (domain.ChangePos, error) {
	return f.ChangeFeed.ReadChanges(ctx, after, until, n, ports.ChangeHandlerFunc(func(batch []ports.Change) error {
		f.mu.Lock()
		f.delivered = append(f.delivered, batch...)
		var hook func()
		if len(f.plan) > 0 {
			hook, f.plan = f.plan[0], f.plan[1:]
		}
		f.mu.Unlock()
		if err := h.HandleChanges(batch); err != nil {
			return err
		}
		if hook != nil {
			hook()
			f.mu.Lock()
			f.failed++
			f.mu.Unlock()
			return errInjected
		}
		return nil
	}))
}

// the hub itself. Transaction A is open; B (9 tickets) commits;
// the hub's read of B fails after its first page (the hub keeps that
// page's position: B read in part, A pending). A commits. The retry reads
// the rest of B first (partPhase) and the hub takes that page's position,
// which claims A read; that read fails too after its first page. Every
// later read starts past A: A's change never reaches a dashboard.
func TestHub_ReadsThatFailMidTransactionLoseNoChange(t *testing.T) {
	s, url := openPostgres(t)
	ctx := context.Background()
	tickets := demodata.New(9).Tickets(10)
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	portstest.WaitChanges(t, s, domain.ChangePos{}, 100, 10)
	a, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	txA, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txA.Exec(ctx, `UPDATE tickets SET subject = 'by A' WHERE id = $1`, tickets[0].ID); err != nil {
		t.Fatal(err)
	}

	f := &flakyFeed{ChangeFeed: s}
	cfg := app.DefaultHubConfig()
	cfg.BatchSize = 2
	cfg.RetryMax = 20 * time.Millisecond
	hub := runHub(t, f, cfg)
	if _, err := hub.Identity(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.plan = []func(){
		func() { // first read of B fails after its first page; A commits meanwhile
			if err := txA.Commit(ctx); err != nil {
				t.Error(err)
			}
		},
		func() {}, // the retry fails after its first page too
	}
	f.mu.Unlock()
	if _, err := s.ReadChanges(ctx, domain.ChangePos{}, domain.ChangePos{}, 1, ports.ChangeHandlerFunc(func([]ports.Change) error { return nil })); err != nil {
		t.Fatal(err)
	}
	b, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if _, err := b.Exec(ctx, `UPDATE tickets SET subject = 'by B' WHERE id <> $1`, tickets[0].ID); err != nil {
		t.Fatal(err)
	}
	portstest.Await(t, "two failed reads and then a clean one", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.failed == 2 && len(f.delivered) >= 9
	})
	time.Sleep(500 * time.Millisecond) // many more polls
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.delivered {
		if c.Ticket.ID == tickets[0].ID && c.Ticket.Subject == "by A" {
			return
		}
	}
	t.Fatalf("the hub is at %v and never dispatched A's change (ticket %d 'by A'); %d changes dispatched", hub.Position(), tickets[0].ID, len(f.delivered))
}

// runHub runs a hub over feed with cfg until t ends.
func runHub(t *testing.T, feed ports.ChangeFeed, cfg app.HubConfig) *app.Hub {
	t.Helper()
	hub, err := app.NewHub(feed, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return hub
}
