package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A cursor is resumed only on the database it came from and within its
// feed: a position of another database, out of range or past the horizon
// would otherwise hold back every change until the positions caught up.
func TestHub_CheckResume(t *testing.T) {
	feed := portstest.NewFeed()
	feed.SetIdentity(42)
	tickets := demodata.New(3).Tickets(20)
	feed.Put(tickets...)
	h := startHub(t, feed, HubConfig{}, nil)
	ctx := context.Background()
	id, err := h.Identity(ctx)
	if err != nil || id != 42 {
		t.Fatalf("Identity = %d, %v; want the feed's, 42", id, err)
	}
	horizon, _ := feed.Horizon(ctx)
	at := domain.ChangePos{Xmax: horizon.Xmax - 1, Seq: horizon.Xmax - 1, ID: tickets[19].ID}
	tests := []struct {
		name string
		c    domain.LiveCursor
		want string
	}{
		{"current", domain.LiveCursor{Cluster: 42, Watermark: at, Live: at}, ""},
		{"at the start", domain.LiveCursor{Cluster: 42}, ""},
		{"another database", domain.LiveCursor{Cluster: 7, Watermark: at, Live: at}, ResyncOtherDatabase},
		{"no database", domain.LiveCursor{Watermark: at, Live: at}, ResyncOtherDatabase},
		{"position 2^63", domain.LiveCursor{Cluster: 42, Live: domain.ChangePos{Xmax: 1 << 63}}, ResyncOutOfRange},
		{"watermark 2^64-1", domain.LiveCursor{Cluster: 42, Watermark: domain.ChangePos{Xmax: 1<<64 - 1}, Live: domain.ChangePos{Xmax: 1<<64 - 1}}, ResyncOutOfRange},
		{"beyond the horizon", domain.LiveCursor{Cluster: 42, Live: domain.ChangePos{Xmax: horizon.Xmax + 1}}, ResyncAhead},
		{"watermark beyond the horizon", domain.LiveCursor{Cluster: 42, Watermark: domain.ChangePos{Xmax: horizon.Xmax + 5}, Live: domain.ChangePos{Xmax: horizon.Xmax + 5}}, ResyncAhead},
	}
	for _, tc := range tests {
		got, err := h.CheckResume(ctx, tc.c)
		if err != nil || got != tc.want {
			t.Errorf("%s: CheckResume = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}

	// Retention: removals pruned past the cursor.
	feed.Remove(tickets[0].ID)
	read, _ := feed.Horizon(ctx) // read past the removal
	if _, err := feed.PruneRemovals(ctx, time.Now().Add(time.Hour), read); err != nil {
		t.Fatal(err)
	}
	if got, err := h.CheckResume(ctx, domain.LiveCursor{Cluster: 42, Watermark: at, Live: at}); err != nil || got != ResyncTooOld {
		t.Errorf("behind the retained history: CheckResume = %q, %v", got, err)
	}

	// A database that cannot be asked is an error, never a verdict.
	feed.SetErr(errors.New("connection refused"))
	if _, err := h.CheckResume(ctx, domain.LiveCursor{Cluster: 42, Watermark: at, Live: at}); err == nil {
		t.Error("CheckResume with the database away gave a verdict, want an error")
	}
	feed.SetErr(nil)
}

// Identity waits for the hub to start, as Subscribe does.
func TestHub_IdentityWaitsForTheStart(t *testing.T) {
	h, err := NewHub(portstest.NewFeed(), HubConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Identity(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Identity of a hub not started = %v, want the context's error", err)
	}
}
