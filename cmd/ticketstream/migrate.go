package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
)

func runMigrate(ctx context.Context, env *environment, args []string) error {
	var c common
	var status bool
	var searchIndex string
	s := newSettings("migrate", env.stderr)
	c.register(s)
	s.ownSettings()
	s.Bool(&status, "status", false, "only list the migrations and whether each is applied")
	s.String(&searchIndex, "search-index", "", "PostgreSQL: on builds the trigram index that makes rare searches (q=) fast, without blocking writers (about a minute per million tickets; writers then commit at about 0.7× the rate), off drops it; empty: leave it as it is")
	if err := s.parse(args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	switch {
	case searchIndex != "" && searchIndex != "on" && searchIndex != "off":
		return fmt.Errorf("%w: --search-index: want on or off, got %q", errUsage, searchIndex)
	case searchIndex != "" && status:
		return fmt.Errorf("%w: --search-index changes the database; --status only lists", errUsage)
	case searchIndex != "" && !strings.HasPrefix(c.cfg.Database.URL, "postgres://") && !strings.HasPrefix(c.cfg.Database.URL, "postgresql://"):
		// Said before any migration runs.
		return fmt.Errorf("%w: --search-index: SQLite has no search index: its searches read the tickets of their filter", errUsage)
	}
	c.cfg.Database.AllowOldSchema = status
	a, _, cleanup, err := c.openApp(ctx, env, !status)
	if err != nil {
		return err
	}
	defer cleanup()
	for _, m := range a.Store.Applied() {
		fmt.Fprintf(env.stdout, "applied  %05d  %s\n", m.Version, m.Name)
	}
	list, err := a.Store.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	if status {
		for _, m := range list {
			state := "pending"
			if m.Applied {
				state = "applied"
			}
			fmt.Fprintf(env.stdout, "%-8s %05d  %s\n", state, m.Version, m.Name)
		}
	}
	current, known, err := a.Store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s schema at version %d of %d\n", a.Store.Dialect(), current, known)
	if searchIndex != "" {
		if err := a.Store.SetSearchIndex(ctx, searchIndex == "on"); err != nil {
			return err
		}
	}
	if on, err := a.Store.SearchIndex(ctx); err == nil && a.Store.Dialect() == gormstore.Postgres {
		fmt.Fprintf(env.stdout, "search index: %s\n", map[bool]string{true: "on", false: "off"}[on])
	}
	return nil
}
