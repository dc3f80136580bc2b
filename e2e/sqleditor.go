package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
)

// SQLEditor writes tickets with plain SQL, as any other program would.
type SQLEditor struct {
	t testing.TB
	// Store is the editor's own connection to the database.
	Store *gormstore.Store
}

// NewSQLEditor opens the database at url for tb, and closes it when tb
// ends.
func NewSQLEditor(tb testing.TB, url string) *SQLEditor {
	tb.Helper()
	store, closeStore, err := gormstore.Open(context.Background(), gormstore.Config{URL: url}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(closeStore)
	return &SQLEditor{t: tb, Store: store}
}

// Now is the database's notion of "now" for a timestamp column.
func (e *SQLEditor) Now() any {
	if e.Store.Dialect() == gormstore.Postgres {
		return time.Now()
	}
	return time.Now().UnixMicro() // the SQLite schema keeps microseconds
}

// Exec runs a statement, failing the test if it fails.
func (e *SQLEditor) Exec(query string, args ...any) {
	e.t.Helper()
	if err := e.Store.Gorm().Exec(query, args...).Error; err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
}

// Insert adds ticket id of team with status and subject, updated now.
func (e *SQLEditor) Insert(id int64, team, status, subject string) {
	e.t.Helper()
	e.Exec(`INSERT INTO tickets (id, team, subject, status, priority, requester, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'high', 'someone@example.com', ?, ?)`, id, team, subject, status, e.Now(), e.Now())
}

// SetSubject changes ticket id's subject, updated now.
func (e *SQLEditor) SetSubject(id int64, subject string) {
	e.t.Helper()
	e.Exec(`UPDATE tickets SET subject = ?, updated_at = ? WHERE id = ?`, subject, e.Now(), id)
}

// Count returns how many tickets match a WHERE clause.
func (e *SQLEditor) Count(where string, args ...any) int {
	e.t.Helper()
	var n int64
	if err := e.Store.Gorm().Raw("SELECT count(*) FROM tickets WHERE "+where, args...).Scan(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return int(n)
}

// Oldest returns the id of the least recently updated ticket of a WHERE
// clause: the last row of the page, far from the rows in view.
func (e *SQLEditor) Oldest(where string, args ...any) int64 {
	e.t.Helper()
	var id int64
	if err := e.Store.Gorm().Raw("SELECT id FROM tickets WHERE "+where+" ORDER BY updated_at, id LIMIT 1", args...).Scan(&id).Error; err != nil {
		e.t.Fatal(err)
	}
	return id
}
