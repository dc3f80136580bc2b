package gormstore

import "context"

// PgEpochMicros exposes pgEpochMicros to the package's external benchmarks.
var PgEpochMicros = pgEpochMicros

// MigrateUpTo applies the migrations up to version only: a database as an
// older ticketstream left it.
func (s *Store) MigrateUpTo(ctx context.Context, version int64) error {
	p, err := s.provider(true)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}
