package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/app/tune"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

func runTune(ctx context.Context, env *environment, args []string) error {
	var c common
	var rawQuery, rawFormat string
	var sample int
	var benchTime time.Duration
	s := newSettings("tune", env.stderr)
	c.register(s)
	c.registerStream(s)
	s.ownSettings()
	s.String(&rawQuery, "query", "", "which tickets to sample, as the REST API takes a filter: status=open&team=billing")
	s.Int(&sample, "sample", 10_000, "how many tickets to read and measure (the first of the filter in (updated_at, id) order)")
	s.Duration(&benchTime, "benchtime", 300*time.Millisecond, "how long each configuration is measured; longer is steadier")
	s.String(&rawFormat, "format", "text", "report format: text, or markdown (a document like the analysis)")
	if err := s.parse(args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := s.check([]check{
		{"sample", sample < 1 || sample > 1_000_000, "between 1 and 1000000"},
		{"benchtime", benchTime < time.Millisecond || benchTime > time.Minute, "between 1ms and 1m"},
	}); err != nil {
		return err
	}
	format, err := tune.ParseFormat(rawFormat)
	if err != nil {
		return fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	q, cursor, err := parseQueryFlag(rawQuery)
	if err != nil {
		return err
	}
	if cursor != "" {
		return fmt.Errorf("%w: --query: cursor: tune samples from the start; leave the cursor out", errUsage)
	}
	q.Limit = sample

	a, _, cleanup, err := c.openApp(ctx, env, true)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(env.stderr, "tune: reading up to %s tickets from %s\n", thousands(sample), gormstore.Redact(c.cfg.Database.URL))
	tickets, err := readSample(ctx, a.Store, q)
	if err != nil {
		return err
	}
	if len(tickets) == 0 {
		return errors.New("no tickets match: nothing to measure ('ticketstream seed' writes demo data)")
	}
	opts := tune.Options{Current: c.cfg.Stream, BenchTime: benchTime, Progress: tuneProgress(env)}
	rep, err := tune.Run(ctx, tickets, opts)
	if err != nil {
		return err
	}
	source := gormstore.Redact(c.cfg.Database.URL)
	if rawQuery != "" {
		source += " (" + rawQuery + ")"
	}
	out := bufio.NewWriter(env.stdout)
	if err := rep.Write(out, format, source); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// readSample reads the tickets of q, each copied out of the source's
// reused batch.
func readSample(ctx context.Context, src ports.TicketSource, q domain.Query) ([]domain.Ticket, error) {
	var out []domain.Ticket
	err := src.StreamTickets(ctx, q, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
		for _, t := range batch {
			t.Team, t.Subject, t.Requester, t.Assignee = strings.Clone(t.Team), strings.Clone(t.Subject), strings.Clone(t.Requester), strings.Clone(t.Assignee)
			t.Tags = slices.Clone(t.Tags)
			for i := range t.Tags {
				t.Tags[i] = strings.Clone(t.Tags[i])
			}
			out = append(out, t)
		}
		return nil
	}))
	if err != nil {
		return nil, fmt.Errorf("read the sample: %w", err)
	}
	return out, nil
}

// tuneProgress shows which measurement runs: redrawn in place on a
// terminal, a line each elsewhere.
func tuneProgress(env *environment) func(done, total int, what string) {
	start := time.Now()
	return func(done, total int, what string) {
		line := fmt.Sprintf("tune [%2d/%d] %3d%%  %s  (%s)", done, total, done*100/total, what, elapsed(time.Since(start)))
		if env.stderrIsTTY {
			fmt.Fprintf(env.stderr, "\r\033[K%s", line)
			if done == total {
				fmt.Fprintln(env.stderr)
			}
			return
		}
		fmt.Fprintln(env.stderr, line)
	}
}
