package main

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/writersink"
	"github.com/ticketstream/ticketstream/domain"
)

func runExport(ctx context.Context, env *environment, args []string) error {
	var c common
	var rawQuery, rawFormat string
	s := newSettings("export", env.stderr)
	c.register(s)
	c.registerStream(s)
	s.String(&c.cfg.Server.CursorKeyFile, "cursor-key-file", "", "file holding the servers' cursor key, if they are given one; empty: the key stored in the database")
	s.ownSettings()
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
	q, cursor, err := parseQueryFlag(rawQuery)
	if err != nil {
		return err
	}
	if f := c.cfg.Server.CursorKeyFile; f != "" {
		if err := settingError(ticketstream.CheckCursorKeyFile(f)); err != nil {
			return err
		}
	}
	a, log, cleanup, err := c.openApp(ctx, env, true)
	if err != nil {
		return err
	}
	defer cleanup()
	cursors, err := ticketstream.NewCursorSealer(ctx, a.Store, c.cfg.Server.CursorKeyFile)
	if err != nil {
		return err
	}
	if len(q.Sort) > 0 && cursor != "" {
		var key domain.RowKey
		if key, err = cursors.OpenSortCursor(cursor, q.Sort); err == nil {
			q.AfterKey = &key
		}
	} else {
		q.After, err = cursors.OpenCursor(cursor)
	}
	if err != nil {
		return fmt.Errorf("%w: --query: %s", errUsage, userMessage(err))
	}

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
	next := cursors.CursorString(sum.Last)
	if len(q.Sort) > 0 {
		next = cursors.SortCursorString(q.Sort, &sum.LastKey)
	}
	log.Info("export done", "rows", sum.Rows, "bytes", sum.Bytes, "chunks", sum.Chunks, "dur", time.Since(start), "next_cursor", next)
	if sum.Rows == 0 && rawQuery == "" {
		if n, err := a.Store.Count(ctx); err == nil && n == 0 {
			fmt.Fprintln(env.stderr, "the database holds no tickets yet: 'ticketstream seed' writes demo data")
		}
	}
	return nil
}

// parseQueryFlag reads a --query filter as the REST API reads a query
// string, refusing it with a usage error that names the flag. The cursor
// is returned as given, to be opened once the database (and with it the
// cursor key) is open.
func parseQueryFlag(raw string) (domain.Query, string, error) {
	values, err := domain.ParseQueryString(raw)
	if err == nil {
		cursor := values.Get(domain.ParamCursor)
		if len(values[domain.ParamCursor]) == 1 {
			values.Del(domain.ParamCursor)
		}
		var q domain.Query
		if q, err = domain.ParseQuery(values, nil); err == nil && q.Window > 0 {
			err = domain.Invalidf(domain.ParamWindow, "only on a live subscription (the WebSocket): give sort and limit")
		}
		if err == nil {
			return q, cursor, nil
		}
	}
	return domain.Query{}, "", fmt.Errorf("%w: --query: %s", errUsage, userMessage(err))
}
