package main

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/ticketstream/ticketstream/adapters/writersink"
	"github.com/ticketstream/ticketstream/domain"
)

func runExport(ctx context.Context, env *environment, args []string) error {
	var c common
	var rawQuery, rawFormat string
	s := newSettings("export", env.stderr)
	c.register(s)
	s.String(&rawQuery, "query", "", "filter, as the REST API takes it: status=open,pending&team=billing&limit=100&cursor=…")
	s.String(&rawFormat, "format", "ndjson", "output format: ndjson (a ticket per line) or json (one array)")
	if err := s.parse(args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	format, err := writersink.ParseFormat(rawFormat)
	if err != nil {
		return fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	q, err := parseQueryFlag(rawQuery)
	if err != nil {
		return err
	}
	a, log, cleanup, err := c.openApp(ctx, env, true)
	if err != nil {
		return err
	}
	defer cleanup()

	out := bufio.NewWriterSize(env.stdout, 64<<10)
	sink := writersink.New(out, format)
	start := time.Now()
	sum, err := a.Streamer.Stream(ctx, q, format.Delimiter(), sink)
	if err != nil {
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	log.Info("export done", "rows", sum.Rows, "bytes", sum.Bytes, "chunks", sum.Chunks, "dur", time.Since(start), "next_cursor", sum.Last.String())
	if sum.Rows == 0 && rawQuery == "" {
		if n, err := a.Store.Count(ctx); err == nil && n == 0 {
			fmt.Fprintln(env.stderr, "the database holds no tickets yet: 'ticketstream seed' writes demo data")
		}
	}
	return nil
}

// parseQueryFlag reads a --query filter as the REST API reads a query
// string, refusing it with a usage error that names the flag.
func parseQueryFlag(raw string) (domain.Query, error) {
	values, err := domain.ParseQueryString(raw)
	if err == nil {
		var q domain.Query
		if q, err = domain.ParseQuery(values); err == nil {
			return q, nil
		}
	}
	return domain.Query{}, fmt.Errorf("%w: --query: %s", errUsage, userMessage(err))
}
