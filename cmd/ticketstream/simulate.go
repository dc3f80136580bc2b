package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

func runSimulate(ctx context.Context, env *environment, args []string) error {
	var c common
	var rate, count, updates int
	var duration time.Duration
	var seed uint64
	s := newSettings("simulate", env.stderr)
	c.register(s)
	s.ownSettings()
	s.Int(&rate, "rate", 20, "writes per second")
	s.Duration(&duration, "duration", 0, "how long to run; 0 runs until interrupted")
	s.Int(&count, "count", 0, "stop after this many writes; 0 means no limit")
	s.Int(&updates, "updates", 80, "percentage of writes that update an existing ticket; the rest create new ones")
	s.Uint64(&seed, "seed", 1, "random seed")
	if err := s.parse(args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := s.check([]check{
		{"rate", rate < 1 || rate > 100_000, "between 1 and 100000"},
		{"duration", duration < 0, "0 or a positive duration"},
		{"count", count < 0, "0 or more"},
		{"updates", updates < 0 || updates > 100, "a percentage from 0 to 100"},
	}); err != nil {
		return err
	}
	a, _, cleanup, err := c.openApp(ctx, env, true)
	if err != nil {
		return err
	}
	defer cleanup()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	sim, err := newSimulator(ctx, a, seed, updates)
	if err != nil {
		return err
	}
	start := time.Now()
	tick := time.NewTicker(max(time.Second/time.Duration(rate), minTick))
	defer tick.Stop()
	report := time.NewTicker(time.Second)
	defer report.Stop()
	for {
		// Every write due by now, the first at once: a ticker alone drops
		// the ticks a slow write overlaps and starts a tick late, so that
		// --rate 5 for a second wrote 4.
		for due := writesDue(time.Since(start), rate); sim.writes() < due && (count == 0 || sim.writes() < count); {
			if err := sim.write(ctx, time.Now()); err != nil {
				if ctx.Err() != nil {
					return sim.finish(env, start)
				}
				return err
			}
		}
		if count > 0 && sim.writes() >= count {
			return sim.finish(env, start)
		}
		select {
		case <-ctx.Done():
			return sim.finish(env, start)
		case <-report.C:
			sim.progress(env, start)
		case <-tick.C:
		}
	}
}

// minTick bounds how often simulate wakes up; at higher rates each tick
// writes several tickets.
const minTick = 5 * time.Millisecond

// writesDue is how many writes a run at rate per second owes after
// elapsed: one at the start, then one every 1/rate.
func writesDue(elapsed time.Duration, rate int) int {
	return int(elapsed.Seconds()*float64(rate)) + 1
}

// simulator creates and updates tickets as a help desk would.
type simulator struct {
	app              *ticketstream.App
	gen              *demodata.Generator
	rng              *rand.Rand
	maxID            int64
	updatePct        int
	created, updated int
}

func newSimulator(ctx context.Context, a *ticketstream.App, seed uint64, updatePct int) (*simulator, error) {
	maxID, err := a.Store.MaxID(ctx)
	if err != nil {
		return nil, err
	}
	return &simulator{app: a, gen: demodata.New(seed), rng: rand.New(rand.NewPCG(seed, 0x5eed)), maxID: maxID, updatePct: updatePct}, nil
}

func (s *simulator) writes() int { return s.created + s.updated }

// write updates a random existing ticket, or creates one, at instant now.
func (s *simulator) write(ctx context.Context, now time.Time) error {
	if s.maxID > 0 && s.rng.IntN(100) < s.updatePct {
		t, err := s.app.Store.Ticket(ctx, 1+s.rng.Int64N(s.maxID))
		switch {
		case err == nil:
			if err := s.app.Store.UpdateTicket(ctx, s.gen.Update(t, later(now, t.UpdatedAt))); err != nil {
				return err
			}
			s.updated++
			return nil
		case domain.ErrorCode(err) != domain.ENotFound:
			return err
		}
		// a gap in the ids: create instead
	}
	s.maxID++
	if err := s.app.Store.InsertTickets(ctx, []domain.Ticket{s.gen.Arrival(s.maxID, now)}); err != nil {
		return err
	}
	s.created++
	return nil
}

// later keeps updated_at moving forward even if the clock steps back.
func later(now, prev time.Time) time.Time {
	if !now.After(prev) {
		return prev.Add(time.Microsecond)
	}
	return now
}

func (s *simulator) line(start time.Time) string {
	rate := float64(s.writes()) / max(time.Since(start).Seconds(), 1e-9)
	return fmt.Sprintf("simulating %s: %s writes (%s updates, %s creates), %s writes/s",
		s.app.Store.Dialect(), thousands(s.writes()), thousands(s.updated), thousands(s.created), thousands(int(rate)))
}

func (s *simulator) progress(env *environment, start time.Time) {
	if env.stderrIsTTY {
		fmt.Fprintf(env.stderr, "\r%s   ", s.line(start))
	} else if int(time.Since(start).Seconds())%10 == 0 {
		fmt.Fprintln(env.stderr, s.line(start))
	}
}

func (s *simulator) finish(env *environment, start time.Time) error {
	if env.stderrIsTTY {
		fmt.Fprintln(env.stderr)
	}
	took := time.Since(start)
	fmt.Fprintf(env.stdout, "simulated %s writes (%s updates, %s creates) in %s: %s writes/s\n",
		thousands(s.writes()), thousands(s.updated), thousands(s.created), elapsed(took), thousands(int(float64(s.writes())/max(took.Seconds(), 1e-9))))
	return nil
}
