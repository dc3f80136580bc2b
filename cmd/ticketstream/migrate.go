package main

import (
	"context"
	"fmt"
)

func runMigrate(ctx context.Context, env *environment, args []string) error {
	var c common
	var status bool
	s := newSettings("migrate", env.stderr)
	c.register(s)
	s.ownSettings()
	s.Bool(&status, "status", false, "only list the migrations and whether each is applied")
	if err := s.parse(args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
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
	return nil
}
