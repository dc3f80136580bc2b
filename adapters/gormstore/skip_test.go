package gormstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// skipRecorder is a QueryObserver that counts skipped rows by kind.
type skipRecorder struct {
	mu      sync.Mutex
	skipped map[string]int
}

func (r *skipRecorder) QueryDone(string, time.Duration, error) {}

func (r *skipRecorder) RowSkipped(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.skipped == nil {
		r.skipped = map[string]int{}
	}
	r.skipped[kind]++
}

func (r *skipRecorder) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped[kind]
}

// badRowSQL writes, with raw SQL as another program would, a value the
// store cannot decode into the ticket with the given id: on SQLite a
// timestamp as text in a column of Unix microseconds, on PostgreSQL a NULL
// tag — or, for created_at, on both a time in the year 10000, which the
// column takes but JSON cannot carry.
func badRowSQL(d gormstore.Dialect, column string) string {
	switch {
	case column == "created_at" && d == gormstore.Postgres:
		return `UPDATE tickets SET created_at = '10000-01-01T00:00:00Z' WHERE id = ?`
	case column == "created_at":
		return `UPDATE tickets SET created_at = 253402300800000000 WHERE id = ?`
	case d == gormstore.Postgres:
		return `UPDATE tickets SET tags = ARRAY['x', NULL]::text[] WHERE id = ?`
	}
	return `UPDATE tickets SET ` + column + ` = '2026-05-01T10:00:00Z' WHERE id = ?`
}

// openOldStore opens a store on a fresh database migrated only up to
// version, as an older ticketstream left it, logging to logs.
func openOldStore(t *testing.T, d gormstore.Dialect, version int64, logs *portstest.LogBuffer) *gormstore.Store {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(logs, nil))
	s, closeStore, err := gormstore.Open(ctx, gormstore.Config{URL: newURL(t, d), AllowOldSchema: true}, log)
	if err != nil {
		t.Fatalf("Open %s: %v", d, err)
	}
	t.Cleanup(closeStore)
	if err := s.MigrateUpTo(ctx, version); err != nil {
		t.Fatalf("migrate up to %d: %v", version, err)
	}
	return s
}

// openUncheckedStore opens a store on a fresh database with the whole
// schema — the feed reads every table — but without the checks that refuse
// bad values at write: a database that holds rows written before them.
func openUncheckedStore(t *testing.T, d gormstore.Dialect, logs *portstest.LogBuffer) *gormstore.Store {
	t.Helper()
	s := openOldStore(t, d, math.MaxInt64, logs)
	drop := []string{`DROP TRIGGER tickets_check_types_insert`, `DROP TRIGGER tickets_check_types_update`}
	if d == gormstore.Postgres {
		drop = []string{`ALTER TABLE tickets DROP CONSTRAINT tickets_tags_plain`, `ALTER TABLE tickets DROP CONSTRAINT tickets_times_finite`}
	}
	for _, q := range drop {
		if err := s.Gorm().Exec(q).Error; err != nil {
			t.Fatalf("drop the write checks: %v", err)
		}
	}
	return s
}

// openSkipStore opens an unchecked store (openUncheckedStore) that logs to
// logs and counts skipped rows in rec, writes tickets, and returns the
// feed's position once their changes are read.
func openSkipStore(t *testing.T, d gormstore.Dialect, tickets []domain.Ticket) (s *gormstore.Store, logs *portstest.LogBuffer, rec *skipRecorder, _ []domain.Ticket, start domain.ChangePos) {
	t.Helper()
	logs, rec = &portstest.LogBuffer{}, &skipRecorder{}
	s = openUncheckedStore(t, d, logs)
	s.SetQueryObserver(rec)
	if err := s.InsertTickets(context.Background(), tickets); err != nil {
		t.Fatal(err)
	}
	_, start = portstest.WaitChanges(t, s, domain.ChangePos{}, 100, len(tickets))
	return s, logs, rec, tickets, start
}

// One row written with a value of the wrong type must not stop the feed or
// the snapshots: the row is skipped, logged with its id and counted, and
// every other change and ticket is still delivered; the feed's position
// moves past it. Rewritten with the right types, the row comes back.
func TestStore_SkipsARowItCannotDecode(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, logs, rec, tickets, start := openSkipStore(t, d, demodata.New(11).Tickets(12))

			good1, bad1, bad2, good2, gone := tickets[0], tickets[1], tickets[4], tickets[2], tickets[3]
			good1.Subject = "before the bad rows"
			if err := s.UpdateTicket(ctx, good1); err != nil {
				t.Fatal(err)
			}
			if err := s.Gorm().Exec(badRowSQL(d, "updated_at"), bad1.ID).Error; err != nil {
				t.Fatalf("write a bad row: %v", err)
			}
			if err := s.Gorm().Exec(badRowSQL(d, "created_at"), bad2.ID).Error; err != nil {
				t.Fatalf("write a bad row: %v", err)
			}
			good2.Subject = "after the bad rows"
			if err := s.UpdateTicket(ctx, good2); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteTicket(ctx, gone.ID); err != nil {
				t.Fatal(err)
			}

			var reached domain.ChangePos
			for _, batchSize := range []int{1, 2, 0} {
				before := rec.count(gormstore.QueryChanges)
				var got []ports.Change
				got, reached = portstest.WaitChanges(t, s, start, batchSize, 3)
				var desc []string
				for _, c := range got {
					desc = append(desc, fmt.Sprintf("%d removed=%v %q", c.Ticket.ID, c.Removed, c.Ticket.Subject))
				}
				want := []string{
					fmt.Sprintf("%d removed=false %q", good1.ID, good1.Subject),
					fmt.Sprintf("%d removed=false %q", good2.ID, good2.Subject),
					fmt.Sprintf("%d removed=true %q", gone.ID, ""),
				}
				if !slices.Equal(desc, want) {
					t.Fatalf("batch size %d: the feed read %q, want %q", batchSize, desc, want)
				}
				if n := rec.count(gormstore.QueryChanges) - before; n < 2 {
					t.Fatalf("batch size %d: %d skipped rows counted, want the 2 bad ones", batchSize, n)
				}
				if again, _ := portstest.ReadAll(t, s, reached, domain.ChangePos{}, batchSize); len(again) != 0 {
					t.Fatalf("batch size %d: a read after %+v got %d changes: the position did not pass the bad rows", batchSize, reached, len(again))
				}
			}
			for _, id := range []int64{bad1.ID, bad2.ID} {
				if !strings.Contains(logs.String(), fmt.Sprintf("id=%d ", id)) {
					t.Fatalf("no log names the skipped row %d:\n%s", id, logs.String())
				}
			}

			// The snapshot skips them too, in every batch size, within a limit.
			wantIDs := map[int64]bool{}
			for _, tk := range tickets {
				wantIDs[tk.ID] = tk.ID != bad1.ID && tk.ID != bad2.ID && tk.ID != gone.ID
			}
			for _, tc := range []struct {
				batchSize, limit, want int
			}{{1, 0, 9}, {2, 0, 9}, {1000, 0, 9}, {1, 5, 5}, {3, 8, 8}} {
				before := rec.count(gormstore.QuerySnapshot)
				var ids []int64
				err := s.StreamTickets(ctx, domain.Query{Limit: tc.limit}, tc.batchSize, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
					for _, tk := range batch {
						ids = append(ids, tk.ID)
					}
					return nil
				}))
				if err != nil {
					t.Fatalf("StreamTickets (batch %d, limit %d): %v", tc.batchSize, tc.limit, err)
				}
				if len(ids) != tc.want {
					t.Fatalf("StreamTickets (batch %d, limit %d) gave %d tickets %v, want %d", tc.batchSize, tc.limit, len(ids), ids, tc.want)
				}
				for _, id := range ids {
					if !wantIDs[id] {
						t.Fatalf("StreamTickets (batch %d, limit %d) gave ticket %d", tc.batchSize, tc.limit, id)
					}
				}
				if tc.limit == 0 && rec.count(gormstore.QuerySnapshot)-before < 2 {
					t.Fatalf("StreamTickets (batch %d): bad rows not counted", tc.batchSize)
				}
			}

			// Fixed by a rewrite with the right types, the row is delivered.
			fix := `UPDATE tickets SET tags = '{}', subject = 'fixed' WHERE id = ?`
			if d == gormstore.SQLite {
				fix = fmt.Sprintf(`UPDATE tickets SET updated_at = %d, subject = 'fixed' WHERE id = ?`, time.Now().UnixMicro())
			}
			if err := s.Gorm().Exec(fix, bad1.ID).Error; err != nil {
				t.Fatalf("fix the bad row: %v", err)
			}
			got, _ := portstest.WaitChanges(t, s, reached, 100, 1)
			if len(got) != 1 || got[0].Ticket.ID != bad1.ID || got[0].Ticket.Subject != "fixed" {
				t.Fatalf("after the fix the feed read %+v, want ticket %d", got, bad1.ID)
			}
		})
	}
}

// A ticket that another program dates before the year 1 — PostgreSQL takes
// 1 BC, SQLite any integer — is outside what tickets carry: a snapshot,
// whose keyset starts in the year 1, never reads it, so the feed must not
// send it either (it did, and a dashboard then held a ticket no snapshot or
// REST page would give). It is skipped and counted, and the feed moves on.
func TestStore_ATicketBeforeTheYear1IsSkippedByTheFeedAsByTheSnapshot(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, logs, rec, tickets, start := openSkipStore(t, d, demodata.New(12).Tickets(3))
			old, good := tickets[0], tickets[1]
			bc := `UPDATE tickets SET created_at = '0001-06-01 00:00:00+00 BC', updated_at = '0001-06-01 00:00:00+00 BC' WHERE id = ?`
			if d == gormstore.SQLite {
				micros := time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
				bc = fmt.Sprintf(`UPDATE tickets SET created_at = %d, updated_at = %d WHERE id = ?`, micros, micros)
			}
			if err := s.Gorm().Exec(bc, old.ID).Error; err != nil {
				t.Fatalf("date a ticket 1 BC: %v", err)
			}
			good.Subject = "after the ticket of 1 BC"
			if err := s.UpdateTicket(ctx, good); err != nil {
				t.Fatal(err)
			}
			got, _ := portstest.WaitChanges(t, s, start, 100, 1)
			if len(got) != 1 || got[0].Ticket.ID != good.ID {
				t.Fatalf("the feed read %+v, want only ticket %d", got, good.ID)
			}
			if rec.count(gormstore.QueryChanges) == 0 || !strings.Contains(logs.String(), fmt.Sprintf("id=%d ", old.ID)) {
				t.Fatalf("the ticket of 1 BC was not counted and logged as skipped:\n%s", logs.String())
			}
			var ids []int64
			if err := s.StreamTickets(ctx, domain.Query{}, 100, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
				for _, tk := range batch {
					ids = append(ids, tk.ID)
				}
				return nil
			})); err != nil {
				t.Fatal(err)
			}
			if slices.Contains(ids, old.ID) || len(ids) != 2 {
				t.Fatalf("the snapshot gave %v, want the two tickets other than %d", ids, old.ID)
			}
		})
	}
}
