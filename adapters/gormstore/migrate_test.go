package gormstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

func TestMigrate_IsIdempotent(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, d, nil, gormstore.Config{})
			again, err := s.Migrate(context.Background())
			if err != nil || len(again) != 0 {
				t.Fatalf("second Migrate applied %v, err %v; want nothing", again, err)
			}
			status, err := s.MigrationStatus(context.Background())
			if err != nil || len(status) == 0 {
				t.Fatalf("MigrationStatus = %v, %v", status, err)
			}
			for _, m := range status {
				if !m.Applied {
					t.Fatalf("migration %d not applied", m.Version)
				}
			}
		})
	}
}

// TestMigrate_TwoProcessesAtOnce races migrations from separate stores
// (separate connection pools, as two processes would have) on one fresh
// database: all succeed, and the schema is applied exactly once.
func TestMigrate_TwoProcessesAtOnce(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			url := newURL(t, d)
			const racers = 4
			var wg sync.WaitGroup
			errs := make([]error, racers)
			applied := make([]int, racers)
			for i := range racers {
				wg.Go(func() {
					s, closeStore, err := gormstore.Open(context.Background(), gormstore.Config{URL: url, Migrate: true}, nil)
					if err != nil {
						errs[i] = err
						return
					}
					defer closeStore()
					st, err := s.MigrationStatus(context.Background())
					errs[i] = err
					for _, m := range st {
						if m.Applied {
							applied[i]++
						}
					}
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("racer %d: %v", i, err)
				}
				if applied[i] == 0 {
					t.Fatalf("racer %d sees no applied migration", i)
				}
			}
			check, closeCheck, err := gormstore.Open(context.Background(), gormstore.Config{URL: url}, nil)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer closeCheck()
			var rows int64
			if err := check.Gorm().Table("goose_db_version").Where("version_id > 0").Count(&rows).Error; err != nil {
				t.Fatal(err)
			}
			cur, known, _ := check.SchemaVersion(context.Background())
			if rows != known || cur != known {
				t.Fatalf("version table has %d rows at version %d, want each of the %d migrations once", rows, cur, known)
			}
		})
	}
}

func TestOpen_RefusesSchemaNewerThanTheBinary(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			url := newURL(t, d)
			s, closeStore, err := gormstore.Open(context.Background(), gormstore.Config{URL: url, Migrate: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Gorm().Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)").Error; err != nil {
				t.Fatal(err)
			}
			closeStore()
			for _, migrate := range []bool{true, false} {
				_, _, err = gormstore.Open(context.Background(), gormstore.Config{URL: url, Migrate: migrate}, nil)
				if domain.ErrorCode(err) != domain.EInvalid || !strings.Contains(err.Error(), "newer") || !strings.Contains(err.Error(), "upgrade ticketstream") {
					t.Fatalf("Open (migrate=%v) of a newer schema = %v, want an error telling to upgrade", migrate, err)
				}
			}
		})
	}
}

func TestOpen_WithoutMigrateRefusesAnOldSchema(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			_, _, err := gormstore.Open(context.Background(), gormstore.Config{URL: newURL(t, d)}, nil)
			if err == nil || !strings.Contains(err.Error(), "ticketstream migrate") {
				t.Fatalf("Open of an unmigrated database = %v, want an error telling to migrate", err)
			}
		})
	}
}

// A migration that needs a lock an open transaction holds on tickets gives
// up after its lock_timeout with an error that says so and what to do —
// goose calls it a partial migration — applies nothing of itself, and
// applies once the transaction ends.
func TestMigrate_PostgresGivesUpOnALockAnOpenTransactionHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tickets := demodata.New(19).Tickets(2)
	s := openStore(t, gormstore.Postgres, tickets, gormstore.Config{})
	// As a database the release before 00015 migrated: 00015 swaps the
	// UPDATE triggers, which takes the table's strongest lock. (Undoing
	// the record of more migrations would re-apply them onto what later
	// ones made of the schema.)
	if err := s.Gorm().Exec("DELETE FROM goose_db_version WHERE version_id >= 15").Error; err != nil {
		t.Fatal(err)
	}
	tx, err := writerConn(t, s).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET subject = 'held' WHERE id = $1`, tickets[0].ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "an open transaction holds") {
		t.Fatalf("Migrate with a transaction holding tickets: %v; want it to give up and say why", err)
	}
	if current, _, err := s.SchemaVersion(ctx); err != nil || current != 14 {
		t.Errorf("schema version after giving up: %d, %v; want 14", current, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate once the transaction ended: %v", err)
	}
}
