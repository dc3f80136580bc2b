package process

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/e2e"
)

// BenchmarkResumeStorm: dashboards that hold a big view all lose their
// socket at once (a network blip, a restarted proxy) and resume together
// while writers commit 500 changes a second. It reports how long until each
// is live again — its resume's catch-up written, which the counts message
// marks — and fails if one does not get there: a resume that cannot keep up
// with the writes would be closed with 1013 and start again, for ever.
// "claimed": the dashboards say what they hold (held messages), as the
// dashboard and wsclient do; "read-back": they do not, and the server reads
// each one's view back from the database — the baseline.
//
//	go test -run '^$' -bench ResumeStorm -benchtime 1x -timeout 30m -v ./e2e/process
func BenchmarkResumeStorm(b *testing.B) {
	for _, claim := range []bool{true, false} {
		name := "claimed"
		if !claim {
			name = "read-back"
		}
		b.Run(name, func(b *testing.B) { resumeStorm(b, claim) })
	}
}

func resumeStorm(b *testing.B, claim bool) {
	const dashboards, tickets, perSecond = 50, 20_000, 500
	var resume []wsclient.Option
	if !claim {
		resume = append(resume, wsclient.WithoutHeld())
	}
	ctx := context.Background()
	db := seedDatabase(b, tickets)
	p := e2e.StartProcess(b, "--database", db, "--demo-tickets", "0")
	base := "ws://" + p.Addr

	views := make([]*wsclient.View, dashboards)
	var wg sync.WaitGroup
	for i := range views {
		views[i] = &wsclient.View{}
		wg.Go(func() {
			c, err := wsclient.Dial(ctx, base, "", "", views[i])
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Conn.CloseNow()
			if err := c.WaitFor(ctx, 5*time.Minute, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}

	// The writers, for the rest of the run: ticketstream simulate.
	sim := exec.Command(e2e.Binary(b), "simulate", "--rate", strconv.Itoa(perSecond), "--database", db)
	var simOut bytes.Buffer
	sim.Stdout = &simOut
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	stopWriting := func() string {
		if sim.ProcessState == nil {
			_ = sim.Process.Signal(os.Interrupt)
			_ = sim.Wait()
		}
		return strings.TrimSpace(simOut.String())
	}
	defer stopWriting()
	time.Sleep(time.Second) // the sockets are gone for a second of writes

	b.ResetTimer()
	start := time.Now()
	took := make([]time.Duration, dashboards)
	closes := make([]int, dashboards)
	for i := range views {
		wg.Go(func() {
			for attempt := 0; ; attempt++ {
				if time.Since(start) > 2*time.Minute {
					b.Errorf("dashboard %d not live again after 2 minutes (%d closes)", i, closes[i])
					return
				}
				c, err := wsclient.Dial(ctx, base, "", "", views[i], resume...)
				if err != nil {
					closes[i]++
					time.Sleep(100 * time.Millisecond)
					continue
				}
				for {
					m, err := c.Next(ctx)
					if err != nil {
						closes[i]++ // closed before it was live again: it resumes again
						if closes[i] == 1 {
							b.Logf("dashboard %d closed before it was live again: %v", i, err)
						}
						break
					}
					if m.Type == "resync" {
						b.Errorf("dashboard %d was sent resync: %s", i, m.Reason)
					}
					if m.Type == "counts" {
						took[i] = time.Since(start)
						c.Conn.CloseNow()
						return
					}
				}
				c.Conn.CloseNow()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	simulated := stopWriting()
	slices.Sort(took)
	again := 0
	for _, c := range closes {
		again += c
	}
	b.ReportMetric(took[len(took)/2].Seconds(), "p50-s")
	b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
	b.Logf("%d dashboards of %d tickets resumed at once under simulate --rate %d (%s): live again after p50 %.2f s, max %.2f s; closed again before live: %d",
		dashboards, tickets, perSecond, simulated, took[len(took)/2].Seconds(), took[len(took)-1].Seconds(), again)
}
