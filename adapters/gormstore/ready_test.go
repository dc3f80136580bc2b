package gormstore_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx", to change the schema under the store

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
)

// TestReady_ReadsTheTicketsTable: an empty table is ready; a table that
// cannot be read is not, although the database still answers pings.
func TestReady_ReadsTheTicketsTable(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			s := openStore(t, d, nil, gormstore.Config{})
			ctx := context.Background()
			if err := s.Ready(ctx); err != nil {
				t.Fatalf("an empty tickets table: %v", err)
			}
			driver, dsn := "pgx", s.Target()
			if d == gormstore.SQLite {
				driver, dsn = "sqlite", strings.TrimPrefix(s.Target(), "sqlite:")
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("ALTER TABLE tickets RENAME TO tickets_gone"); err != nil {
				t.Fatal(err)
			}
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("ping: %v", err)
			}
			if err := s.Ready(ctx); domain.ErrorCode(err) != domain.EUnavailable {
				t.Fatalf("a renamed tickets table: %v, want unavailable", err)
			}
			if _, err := db.Exec("ALTER TABLE tickets_gone RENAME TO tickets"); err != nil {
				t.Fatal(err)
			}
			if err := s.Ready(ctx); err != nil {
				t.Fatalf("the table back: %v", err)
			}
		})
	}
}
