package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

// seedChunk is how many tickets one insert transaction writes.
const seedChunk = 10_000

// maxSeedCount keeps a typo (an extra zero or two) from filling the disk.
const maxSeedCount = 100_000_000

func runSeed(ctx context.Context, env *environment, args []string) error {
	var c common
	var count int
	var seed uint64
	var rawEnd string
	s := newSettings("seed", env.stderr)
	c.register(s)
	s.ownSettings()
	s.Int(&count, "count", 10_000, "how many tickets to write")
	s.Uint64(&seed, "seed", 1, "random seed: the same seed and --end write the same tickets")
	s.String(&rawEnd, "end", "", "when the tickets' history ends, as 2026-05-01T12:00:00Z; empty: now, so that they are minutes to weeks old")
	if err := s.parse(args); err != nil {
		return err
	}
	end := time.Now()
	if rawEnd != "" {
		var err error
		if end, err = time.Parse(time.RFC3339, rawEnd); err != nil {
			return fmt.Errorf("%w: --end (%s) must be a time like 2026-05-01T12:00:00Z, got %q", errUsage, s.env("end"), rawEnd)
		}
	}
	if err := c.validate(); err != nil {
		return err
	}
	if count < 1 || count > maxSeedCount {
		return fmt.Errorf("%w: --count (%s) must be between 1 and %d, got %d", errUsage, s.env("count"), maxSeedCount, count)
	}
	a, _, cleanup, err := c.openApp(ctx, env, true)
	if err != nil {
		return err
	}
	defer cleanup()
	maxID, err := a.Store.MaxID(ctx)
	if err != nil {
		return err
	}
	gen := demodata.New(seed).EndingAt(end)
	gen.SetNextID(maxID + 1)

	// Generate the next chunk while the database writes this one.
	chunks := make(chan []domain.Ticket, 1)
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	go func() {
		defer close(chunks)
		for left := count; left > 0; {
			n := min(left, seedChunk)
			select {
			case chunks <- gen.Tickets(n):
			case <-genCtx.Done():
				return
			}
			left -= n
		}
	}()

	bar := newProgress(env, fmt.Sprintf("seeding %s", a.Store.Dialect()), count)
	for tickets := range chunks {
		if err := a.Store.InsertTickets(ctx, tickets); err != nil {
			bar.abort()
			return err
		}
		bar.add(len(tickets))
	}
	if err := ctx.Err(); err != nil {
		bar.abort()
		return err
	}
	took, rate := bar.finish()
	fmt.Fprintf(env.stdout, "seeded %s tickets (ids %d–%d) into %s in %s: %s tickets/s\n",
		thousands(count), maxID+1, maxID+int64(count), a.Store.Dialect(), elapsed(took), thousands(int(rate)))
	return nil
}
