package app

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

func TestReadPace(t *testing.T) {
	ms := time.Millisecond
	type read struct {
		after time.Duration // since the previous read's start
		found uint64
		want  time.Duration
	}
	// times repeats r n times.
	times := func(n int, r read) []read {
		out := make([]read, n)
		for i := range out {
			out[i] = r
		}
		return out
	}
	// flow is a window's reads a millisecond apart, each finding found
	// changes, the last of which closes the window and gets last.
	perWindow := int(busyWindow / ms)
	flow := func(found uint64, last time.Duration) []read {
		return append(times(perWindow-1, read{ms, found, ms}), read{ms, found, last})
	}
	// idleWindow is a window of empty reads at the interval (10ms), the
	// last of which closes it.
	idleWindow := times(int(busyWindow/(10*ms)), read{10 * ms, 0, 10 * ms})
	// statement is an idle window's reads, the last of which finds n
	// changes and closes the window.
	statement := func(n uint64, want time.Duration) []read {
		r := slices.Clone(idleWindow)
		r[len(r)-1] = read{10 * ms, n, want}
		return r
	}
	for _, tc := range []struct {
		name     string
		interval time.Duration
		reads    []read
	}{
		{"idle", 10 * ms, []read{{10 * ms, 0, 10 * ms}, {10 * ms, 0, 10 * ms}}},
		{"a change, then warm, then idle again", 10 * ms, []read{
			{10 * ms, 1, ms}, {ms, 0, 2500 * time.Microsecond}, {warmFor - 2*ms, 0, 2500 * time.Microsecond}, {10 * ms, 0, 10 * ms}}},
		{"a few changes: the rest of a burst soon", 10 * ms, []read{{10 * ms, 3, ms}}},
		{"a statement of 60 tickets on a quiet server is no flood", 10 * ms, append(statement(60, ms), read{ms, 0, 2500 * time.Microsecond})},
		{"a statement of 100 tickets is: the next read comes after busyPace", 10 * ms, append(statement(100, busyPace), read{busyPace, 0, 2500 * time.Microsecond})},
		{"6 tickets just after a read, within a window, are no flood", 10 * ms, []read{{10 * ms, 0, 10 * ms}, {ms, 6, ms}, {ms, 0, 2500 * time.Microsecond}}},
		{"600 changes a second is not busy", 10 * ms, times(2*perWindow/5, read{5 * ms, 3, ms})},
		{"99 changes in a window is not busy", 10 * ms, append(times(perWindow-1, read{ms, 1, ms}),
			append(times(perWindow/10, read{ms, 0, 2500 * time.Microsecond}), read{ms, 1, ms})...)},
		{"1,000 changes a second is busy", 10 * ms, flow(1, busyPace)},
		{"4,000 changes a second is busy, and stays so", 10 * ms, append(flow(4, busyPace), times(perWindow/10, read{10 * ms, 40, busyPace})...)},
		{"busy, then back to 500 a second", 10 * ms, append(append(flow(12, busyPace), times(perWindow/10-1, read{10 * ms, 5, busyPace})...), read{10 * ms, 5, ms}, read{ms, 1, ms})},
		{"a bulk statement, then a steady 500 a second: the pace follows the rate, not its history", 10 * ms, append(append(statement(5000, busyPace),
			times(perWindow/10-1, read{10 * ms, 5, busyPace})...), read{10 * ms, 5, ms}, read{2 * ms, 1, ms}, read{2 * ms, 1, ms})},
		{"busy at 40ms: read every 20ms, not every interval", 40 * ms, []read{{busyWindow, 120, 20 * ms}}},
		{"busy at 500ms: a tenth of the interval, as when not busy", 500 * ms, []read{{50 * ms, 5000, 50 * ms}}},
		{"busy at 5ms: twice the interval", 5 * ms, []read{{busyWindow, 100, 10 * ms}}},
		{"busy at 15ms: busyPace, less than twice the interval", 15 * ms, []read{{busyWindow, 100, 20 * ms}}},
		{"busy at the default: 20ms", 10 * ms, []read{{busyWindow, 100, 20 * ms}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := readPace{interval: tc.interval}
			at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
			p.next(at, 0) // the first read: nothing found, long ago
			for i, r := range tc.reads {
				at = at.Add(r.after)
				if got := p.next(at, r.found); got != r.want {
					t.Errorf("read %d, %v after the last, found %d: next after %v, want %v", i+1, r.after, r.found, got, r.want)
				}
			}
		})
	}
}

// readTimes records when a feed's reads begin and what each found.
type readTimes struct {
	*portstest.Feed
	mu     sync.Mutex
	starts []time.Time
	found  []int
}

func (f *readTimes) ReadChanges(ctx context.Context, after, until domain.ChangePos, n int, h ports.ChangeHandler) (domain.ChangePos, error) {
	f.mu.Lock()
	i := len(f.starts)
	f.starts, f.found = append(f.starts, time.Now()), append(f.found, 0)
	f.mu.Unlock()
	return f.Feed.ReadChanges(ctx, after, until, n, ports.ChangeHandlerFunc(func(batch []ports.Change) error {
		f.mu.Lock()
		f.found[i] += len(batch)
		f.mu.Unlock()
		return h.HandleChanges(batch)
	}))
}

// reads returns when each read began and what it found.
func (f *readTimes) reads() ([]time.Time, []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.starts), slices.Clone(f.found)
}

// Busy writers fill every read however often it comes: after a read that
// found changes at busyRate a second or more, the hub waits busyPace (here
// lengthened to tell it from a tenth of the interval) instead of reading
// again at once, which took a quarter of busy writers' commits. Only a
// lower bound is checked: a slow machine only sleeps longer.
func TestHub_WhileWritersAreBusyTheFeedIsReadAtTheBusyPace(t *testing.T) {
	const interval, busy = 400 * time.Millisecond, 300 * time.Millisecond
	feed := &readTimes{Feed: portstest.NewFeed()}
	h, err := NewHub(feed, HubConfig{PollInterval: interval, busyPace: busy, poisonReleased: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	portstest.Await(t, "the hub's first read", func() bool { starts, _ := feed.reads(); return len(starts) > 0 })

	// At least 8,000 changes within an interval: 20,000 a second or more.
	tickets := make([]domain.Ticket, 8000)
	for i := range tickets {
		tickets[i] = domain.Ticket{ID: int64(i + 1), Team: "billing", Subject: "bulk", Status: domain.StatusOpen}
	}
	feed.Put(tickets...)
	// The read that found them, and the one after it.
	busyRead := -1
	portstest.Await(t, "the read after the one that found the changes", func() bool {
		starts, found := feed.reads()
		for i, n := range found {
			if n >= len(tickets) {
				busyRead = i
			}
		}
		return busyRead >= 0 && len(starts) > busyRead+1
	})
	starts, _ := feed.reads()
	// Reads are timed from just before ReadChanges; allow for the skew.
	if gap := starts[busyRead+1].Sub(starts[busyRead]); gap < busy-busy/10 {
		t.Fatalf("the read after a busy one began %v after it; want about %v (busy pace), not a tenth of the interval", gap, busy)
	}
}
