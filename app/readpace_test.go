package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

func TestNextRead(t *testing.T) {
	const interval = 10 * time.Millisecond
	for _, tc := range []struct {
		name        string
		found       uint64
		sinceChange time.Duration
		want        time.Duration
	}{
		{"idle", 0, time.Hour, interval},
		{"idle just past warm", 0, warmFor, interval},
		{"warm: a change a moment ago", 0, warmFor - time.Millisecond, interval / 4},
		{"one change: the rest of a burst soon", 1, 0, interval / 10},
		{"a few changes", busyRead - 1, 0, interval / 10},
		{"busy writers fill every read", busyRead, 0, interval},
		{"a bulk statement", 5000, 0, interval},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextRead(interval, tc.found, tc.sinceChange); got != tc.want {
				t.Errorf("nextRead(%v, %d, %v) = %v, want %v", interval, tc.found, tc.sinceChange, got, tc.want)
			}
		})
	}
}

// readCounter counts a feed's reads.
type readCounter struct {
	*portstest.Feed
	reads atomic.Int64
}

func (f *readCounter) ReadChanges(ctx context.Context, after, until domain.ChangePos, n int, h ports.ChangeHandler) (domain.ChangePos, error) {
	f.reads.Add(1)
	return f.Feed.ReadChanges(ctx, after, until, n, h)
}

// Busy writers fill every read however often it comes: after a read that
// found many changes the hub waits a whole interval, as when idle, instead
// of reading again at once (which took a sixth of busy writers' commits).
// Only a lower bound is checked: a slow machine only sleeps longer.
func TestHub_AfterAReadFullOfChangesTheNextWaitsAWholeInterval(t *testing.T) {
	const interval = 400 * time.Millisecond
	feed := &readCounter{Feed: portstest.NewFeed()}
	h, err := NewHub(feed, HubConfig{PollInterval: interval, poisonReleased: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	portstest.Await(t, "the hub's first read", func() bool { return feed.reads.Load() > 0 })

	tickets := make([]domain.Ticket, busyRead)
	for i := range tickets {
		tickets[i] = domain.Ticket{ID: int64(i + 1), Team: "billing", Subject: "bulk", Status: domain.StatusOpen}
	}
	feed.Put(tickets...)
	portstest.Await(t, "the changes read", func() bool { return h.Stats().Changes >= busyRead })
	reads := feed.reads.Load()
	time.Sleep(interval / 2)
	if got := feed.reads.Load(); got != reads {
		t.Fatalf("%d more reads within half an interval after a read that found %d changes; want none", got-reads, busyRead)
	}
}
