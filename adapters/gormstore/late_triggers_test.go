package gormstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
)

// A writer's BEFORE UPDATE trigger whose name sorts after the change feed's
// (PostgreSQL compares the bytes: zzz…, ~…, a non-ASCII first letter)
// changes rows the feed's triggers have already seen: the server names
// each such trigger in a warning at start, and no other trigger.
func TestPostgres_AWritersTriggerThatFiresAfterTheFeedsIsWarnedOf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, nil, gormstore.Config{})
	g := s.Gorm()
	for _, sql := range []string{
		`CREATE FUNCTION writer_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
		`CREATE TRIGGER route_by_subject BEFORE UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION writer_noop()`,    // before: fine
		`CREATE TRIGGER zzz_route BEFORE UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION writer_noop()`,           // after
		`CREATE TRIGGER "équipe" BEFORE UPDATE OR INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION writer_noop()`,  // after: é is 0xC3
		`CREATE TRIGGER "~audit" AFTER UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION writer_noop()`,             // AFTER: fine
		`CREATE TRIGGER zzz_insert BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION writer_noop()`,          // INSERT only: fine
		`CREATE TRIGGER zzz_statement BEFORE UPDATE ON tickets FOR EACH STATEMENT EXECUTE FUNCTION writer_noop()`, // per statement: fine
		`CREATE TRIGGER zzz_disabled BEFORE UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION writer_noop()`,        // disabled below
		`ALTER TABLE tickets DISABLE TRIGGER zzz_disabled`,
	} {
		if err := g.Exec(sql).Error; err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	want := []string{"zzz_route", "équipe"}
	if got, err := s.LateTriggers(ctx); err != nil || !slices.Equal(got, want) {
		t.Fatalf("LateTriggers = %q, %v; want %q", got, err, want)
	}
	var logs bytes.Buffer
	_, closeStore, err := gormstore.Open(ctx, gormstore.Config{URL: s.Target()}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	closeStore()
	for _, name := range want {
		if !strings.Contains(logs.String(), "level=WARN msg=\"a BEFORE UPDATE trigger on tickets fires after the change feed's") || !strings.Contains(logs.String(), "trigger="+name) {
			t.Errorf("the start's log does not warn of trigger %s:\n%s", name, logs.String())
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != len(want) {
		t.Errorf("the start's log has %d warnings, want %d:\n%s", n, len(want), logs.String())
	}
}
