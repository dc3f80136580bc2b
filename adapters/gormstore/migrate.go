package gormstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"

	"github.com/ticketstream/ticketstream/domain"
)

// migrations holds the versioned schema of each dialect. goose applies them:
// plain SQL files a DBA can read, a version table, and — what gorm's
// AutoMigrate lacks — a lock so that two processes starting at once do not
// both migrate (a PostgreSQL advisory lock; an exclusive file lock beside an
// SQLite database).
//
//go:embed migrations
var migrations embed.FS

// Migration is one applied or pending schema version.
type Migration struct {
	Version int64
	Name    string
	Applied bool
}

func (s *Store) provider(locked bool) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(s.Dialect()))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	gooseDialect, opts, err := s.eng.migrationProvider(locked)
	if err != nil {
		return nil, err
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(gooseDialect, s.sql, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration, holding the migration lock, and
// returns the versions it applied. It is idempotent: a second run, or one
// racing it from another process, applies nothing.
func (s *Store) Migrate(ctx context.Context) ([]Migration, error) {
	if err := s.checkNotNewer(ctx); err != nil {
		return nil, err
	}
	p, err := s.provider(true)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available: lock_timeout passed
		// goose calls it a partial migration: those before the failed one
		// are applied, and nothing of the failed one is.
		return nil, fmt.Errorf("migrate %s: a migration waited its 10 s for a lock on the tickets table, which an open transaction holds, and gave up without applying any of itself: end that transaction (the server's stall warning names it) and run it again: %w", s.Dialect(), err)
	}
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", s.Dialect(), err)
	}
	out := make([]Migration, 0, len(results))
	for _, r := range results {
		out = append(out, Migration{Version: r.Source.Version, Name: r.Source.Path, Applied: true})
	}
	return out, nil
}

// MigrationStatus lists every migration this binary knows and whether the
// database has it.
func (s *Store) MigrationStatus(ctx context.Context) ([]Migration, error) {
	p, err := s.provider(false)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Migration, 0, len(st))
	for _, m := range st {
		out = append(out, Migration{Version: m.Source.Version, Name: m.Source.Path, Applied: m.State == goose.StateApplied})
	}
	return out, nil
}

// SchemaVersion returns the database's schema version (0 before the first
// migration) and the newest version this binary knows.
func (s *Store) SchemaVersion(ctx context.Context) (current, known int64, err error) {
	p, err := s.provider(false)
	if err != nil {
		return 0, 0, err
	}
	sources := p.ListSources()
	if len(sources) > 0 {
		known = sources[len(sources)-1].Version
	}
	current, err = p.GetDBVersion(ctx)
	if errors.Is(err, goose.ErrNoMigrations) {
		return 0, known, nil
	}
	if err != nil {
		return 0, known, fmt.Errorf("schema version: %w", err)
	}
	return current, known, nil
}

// checkNotNewer refuses a database migrated by a newer ticketstream: this
// binary would read columns it does not know or miss ones it needs.
func (s *Store) checkNotNewer(ctx context.Context) error {
	current, known, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current > known {
		return &domain.Error{Code: domain.EInvalid, Param: "database", Message: fmt.Sprintf(
			"the database schema is at version %d, newer than the %d this ticketstream knows: upgrade ticketstream", current, known)}
	}
	return nil
}

// checkSchema migrates (if asked) and then insists on the schema this binary
// knows, so that a server never runs against a missing or foreign schema.
func (s *Store) checkSchema(ctx context.Context, migrate, allowOld bool) error {
	if migrate {
		applied, err := s.Migrate(ctx)
		if err != nil {
			return err
		}
		s.applied = applied
		for _, m := range applied {
			s.log.Info("applied migration", "version", m.Version, "name", m.Name)
		}
	}
	current, known, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case current > known:
		return s.checkNotNewer(ctx)
	case current < known && !allowOld:
		return &domain.Error{Code: domain.EUnavailable, Param: "database", Message: fmt.Sprintf(
			"the database schema is at version %d, this ticketstream needs %d: run `ticketstream migrate`", current, known)}
	case current == known:
		s.warnLateTriggers(ctx)
		s.warnFoldingTeamCollation(ctx)
	}
	return nil
}

// Applied returns the migrations that Open applied (none unless
// Config.Migrate was set and the schema was behind).
func (s *Store) Applied() []Migration { return s.applied }
