package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
)

func runMigrate(ctx context.Context, env *environment, args []string) error {
	var c common
	var status bool
	var searchIndex, sortIndex, dropSortIndex string
	s := newSettings("migrate", env.stderr)
	c.register(s)
	s.ownSettings()
	s.Bool(&status, "status", false, "only list the migrations and whether each is applied")
	s.String(&searchIndex, "search-index", "", "PostgreSQL: on builds the trigram index that makes rare searches (q=) fast, without blocking writers (about a minute per million tickets; writers then commit at about 0.7× the rate), off drops it; empty: leave it as it is")
	s.String(&sortIndex, "sort-index", "", "builds the index that serves one sort= order (give it as --sort-index=-team,created_at), so that its pages and window refills read an index instead of sorting; on PostgreSQL without blocking writers. 'columns': the six the dashboard's column headers sort by that the schema does not index. Every index costs every write (docs/performance.md#sorting)")
	s.String(&dropSortIndex, "drop-sort-index", "", "drops the index --sort-index built for that order (or 'columns')")
	if err := s.parse(args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	var addSorts, dropSorts []domain.Sort
	for _, x := range []struct {
		flag, value string
		sorts       *[]domain.Sort
	}{{"sort-index", sortIndex, &addSorts}, {"drop-sort-index", dropSortIndex, &dropSorts}} {
		if x.value == "" {
			continue
		}
		if status {
			return fmt.Errorf("%w: --%s changes the database; --status only lists", errUsage, x.flag)
		}
		if x.value == "columns" {
			*x.sorts = gormstore.ColumnSorts()
			continue
		}
		sort, err := domain.ParseSort(x.value)
		if err == nil {
			err = gormstore.CheckSortIndexable(sort)
		}
		if err != nil {
			return fmt.Errorf("%w: --%s: %s", errUsage, x.flag, userMessage(err))
		}
		*x.sorts = []domain.Sort{sort}
	}
	switch {
	case sortIndex != "" && dropSortIndex != "":
		return fmt.Errorf("%w: --sort-index and --drop-sort-index: one at a time", errUsage)
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
	for _, sort := range dropSorts {
		name, existed, err := a.Store.DropSortIndex(ctx, sort)
		if err != nil {
			return err
		}
		if existed {
			fmt.Fprintf(env.stdout, "dropped sort index %s\n", name)
		} else {
			fmt.Fprintf(env.stdout, "no sort index %s to drop\n", name)
		}
	}
	for _, sort := range addSorts {
		name, err := a.Store.AddSortIndex(ctx, sort)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "built sort index %s\n", name)
	}
	built, err := a.Store.SortIndexes(ctx)
	if err != nil {
		return err
	}
	for _, ix := range built {
		if ix.Valid {
			fmt.Fprintf(env.stdout, "sort index: %s\n", ix.Definition)
		} else {
			fmt.Fprintf(env.stdout, "sort index NOT READY (a build that failed half-way; writers may pay for it, no read uses it: run --sort-index again or --drop-sort-index): %s\n", ix.Definition)
		}
	}
	return nil
}
