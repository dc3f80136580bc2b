package gormstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// SQLite keeps any value in any column unless told otherwise: once
// migrated, a database refuses a write of a value its readers could not
// decode, whoever writes it. The migration applies to a database that
// already holds such a row, which reads go on skipping.
func TestSQLite_RefusesValuesOfTheWrongType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs portstest.LogBuffer
	s := openOldStore(t, gormstore.SQLite, 2, &logs)
	tickets := demodata.New(12).Tickets(5)
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	bad := tickets[1].ID
	if err := s.Gorm().Exec(badRowSQL(gormstore.SQLite, "updated_at"), bad).Error; err != nil {
		t.Fatalf("write a bad row before the migration: %v", err)
	}
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) == 0 {
		t.Fatalf("Migrate over a bad row = %v, %v; want the type checks applied", applied, err)
	}

	id := tickets[2].ID
	refused := []struct{ name, sql, want string }{
		{"timestamp as text", `UPDATE tickets SET updated_at = '2026-05-01T10:00:00Z' WHERE id = ?`, "must be integers"},
		{"timestamp as a real", `UPDATE tickets SET created_at = 1.5 WHERE id = ?`, "must be integers"},
		{"position as text", `UPDATE tickets SET change_pos = 'next' WHERE id = ?`, "must be integers"},
		{"text as a blob", `UPDATE tickets SET subject = x'41' WHERE id = ?`, "must be text"},
		{"tags not an array", `UPDATE tickets SET tags = '{"a": "b"}' WHERE id = ?`, "JSON array of strings"},
		{"tags not strings", `UPDATE tickets SET tags = '["a", 1]' WHERE id = ?`, "JSON array of strings"},
		{"tags not JSON", `UPDATE tickets SET tags = 'a,b' WHERE id = ?`, "JSON array of strings"},
		{"insert with a text timestamp", `INSERT INTO tickets (id, team, subject, status, priority, requester, created_at, updated_at)
			VALUES (? + 1000, 'core', 's', 'open', 'low', 'r', 1, 'yesterday')`, "must be integers"},
	}
	for _, tc := range refused {
		err := s.Gorm().Exec(tc.sql, id).Error
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want refused with %q", tc.name, err, tc.want)
		}
	}
	// What SQLite converts to the column's type by itself is stored
	// converted, and passes.
	accepted := []struct{ name, sql string }{
		{"integer as numeric text", `UPDATE tickets SET updated_at = '1700000000000000' WHERE id = ?`},
		{"text as a number", `UPDATE tickets SET subject = 42 WHERE id = ?`},
		{"an ordinary insert", `INSERT INTO tickets (id, team, subject, status, priority, requester, tags, created_at, updated_at)
			VALUES (? + 2000, 'core', 's', 'open', 'low', 'r', '["x"]', 1, 2)`},
	}
	for _, tc := range accepted {
		if err := s.Gorm().Exec(tc.sql, id).Error; err != nil {
			t.Errorf("%s: %v, want accepted", tc.name, err)
		}
	}
	got, err := s.Ticket(ctx, id)
	if err != nil || got.Subject != "42" || got.UpdatedAt.UnixMicro() != 1700000000000000 {
		t.Fatalf("Ticket(%d) after the accepted writes = %+v, %v", id, got, err)
	}

	// The row written before the migration is still skipped, not fatal.
	var n int
	err = s.StreamTickets(ctx, domain.Query{}, 2, ports.BatchHandlerFunc(func(b []domain.Ticket) error { n += len(b); return nil }))
	if err != nil || n != len(tickets) { // one skipped, one inserted
		t.Fatalf("StreamTickets after the migration: %d tickets, %v; want %d", n, err, len(tickets))
	}
}

// PostgreSQL checks types itself, but not what a ticket has no place for:
// NULL tags, nested tag arrays, infinite timestamps. Once migrated it
// refuses them, over a database that already holds such a row.
func TestPostgres_RefusesValuesATicketCannotHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs portstest.LogBuffer
	s := openOldStore(t, gormstore.Postgres, 2, &logs)
	tickets := demodata.New(13).Tickets(5)
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	if err := s.Gorm().Exec(badRowSQL(gormstore.Postgres, ""), tickets[1].ID).Error; err != nil {
		t.Fatalf("write a bad row before the migration: %v", err)
	}
	if applied, err := s.Migrate(ctx); err != nil || len(applied) == 0 {
		t.Fatalf("Migrate over a bad row = %v, %v; want the checks applied", applied, err)
	}
	id := tickets[2].ID
	for _, tc := range []struct{ name, sql, want string }{
		{"a NULL tag", `UPDATE tickets SET tags = ARRAY['a', NULL]::text[] WHERE id = ?`, "tickets_tags_plain"},
		{"nested tags", `UPDATE tickets SET tags = ARRAY[ARRAY['a'], ARRAY['b']]::text[] WHERE id = ?`, "tickets_tags_plain"},
		{"an infinite timestamp", `UPDATE tickets SET updated_at = 'infinity' WHERE id = ?`, "tickets_times_finite"},
	} {
		err := s.Gorm().Exec(tc.sql, id).Error
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want refused by %s", tc.name, err, tc.want)
		}
	}
	if err := s.Gorm().Exec(`UPDATE tickets SET tags = '{}' WHERE id = ?`, id).Error; err != nil {
		t.Fatalf("no tags: %v, want accepted", err)
	}
	var n int
	err := s.StreamTickets(ctx, domain.Query{}, 2, ports.BatchHandlerFunc(func(b []domain.Ticket) error { n += len(b); return nil }))
	if err != nil || n != len(tickets)-1 {
		t.Fatalf("StreamTickets after the migration: %d tickets, %v; want %d", n, err, len(tickets)-1)
	}
}
