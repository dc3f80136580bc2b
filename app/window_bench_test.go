package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// BenchmarkWindow_Churn opens 1,000 live windows of 50 rows (four orders
// over the unsolved tickets of 5,000) and makes 1,000 changes, one
// transaction each, and reports what a window costs: the heap it keeps
// (after a GC, its view of the filter for the counts included) and the
// database reads the windows made per 1,000 changes, beyond the one each
// makes when it opens. random: any ticket gets a random status and
// priority (tickets enter, leave and cross the windows' edges); worked:
// agents work the queue, solving the most urgent, oldest unsolved ticket
// each time — the top row of a quarter of the windows leaves them.
//
//	go test -run '^$' -bench Window_Churn -benchtime 1x ./app
func BenchmarkWindow_Churn(b *testing.B) {
	for _, worked := range []bool{false, true} {
		name := "random"
		if worked {
			name = "worked"
		}
		b.Run(name, func(b *testing.B) { benchmarkWindowChurn(b, worked) })
	}
}

func benchmarkWindowChurn(b *testing.B, worked bool) {
	const windows, tickets = 1000, 5000
	changes := 1000
	if worked {
		changes = 200 // each waits for the last to be applied everywhere
	}
	for range b.N {
		feed := portstest.NewFeed()
		all := demodata.New(3).Tickets(tickets)
		feed.Put(all...)
		h, err := NewHub(feed, HubConfig{PollInterval: time.Millisecond, QueueBytes: 64 << 20}, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = h.Run(ctx) }()

		sorts := []string{"-priority,created_at", "created_at", "-updated_at", "status,-priority"}
		heapBefore := heapInUse()
		subs := make([]*Subscription, windows)
		for i := range subs {
			v, _ := domain.ParseQueryString(fmt.Sprintf("status=new,open,pending&sort=%s&window=50", sorts[i%len(sorts)]))
			q, err := domain.ParseQuery(v, nil)
			if err != nil {
				b.Fatal(err)
			}
			if subs[i], _, err = h.Subscribe(ctx, q, SubscribeOptions{Source: feed}); err != nil {
				b.Fatal(err)
			}
		}
		var taken []Delivery
		drain := func() {
			for _, s := range subs {
				for {
					var counts []byte
					taken, counts, _ = s.TakeWindow(taken[:0], 1<<20, nil)
					for i := range taken {
						taken[i].Release()
					}
					if len(taken) == 0 && len(counts) == 0 {
						break
					}
				}
			}
		}
		settled := func() bool {
			drain()
			for _, s := range subs {
				s.mu.Lock()
				ok := s.win.loaded && !s.win.loading && s.win.counted && s.waiting == 0
				s.mu.Unlock()
				if !ok {
					return false
				}
			}
			return true
		}
		portstest.Await(b, "every window open", settled)
		heapAfter := heapInUse()
		opened := h.Stats().WindowReads

		rng := rand.New(rand.NewPCG(9, 9))
		var last domain.ChangePos
		b.ResetTimer()
		for k := range changes {
			t := all[rng.IntN(len(all))]
			t.Status = domain.Statuses[rng.IntN(len(domain.Statuses))]
			t.Priority = domain.Priorities[rng.IntN(len(domain.Priorities))]
			if worked {
				subs[0].mu.Lock()
				t = *subs[0].win.rows[0]
				subs[0].mu.Unlock()
				t.Status = domain.StatusSolved
			}
			t.UpdatedAt = t.UpdatedAt.Add(time.Duration(k+1) * time.Second)
			last = feed.Put(t)
			if worked {
				// The next change is to the new top row.
				portstest.Await(b, "the change applied", func() bool { return h.Position().Includes(last) && settled() })
			} else if k%50 == 49 {
				drain()
			}
		}
		portstest.Await(b, "every change applied", func() bool { return h.Position().Includes(last) && settled() })
		b.StopTimer()
		reads := h.Stats().WindowReads - opened
		b.ReportMetric(float64(reads)*1000/float64(changes), "reads/1000changes")
		b.ReportMetric((heapAfter-heapBefore)/windows/1024, "KB/window")
		b.Logf("%d windows of 50 over %d tickets: %.1f KB each (heap after GC); %d reads to open them; %d reads for %d changes (%.2f per window per 1,000 changes)",
			windows, tickets, (heapAfter-heapBefore)/windows/1024, opened, reads, changes, float64(reads)*1000/float64(changes)/windows)
		for _, s := range subs {
			s.Close()
		}
		cancel()
		<-done
	}
}

// heapInUse returns the bytes of heap in use after a GC.
func heapInUse() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse)
}
