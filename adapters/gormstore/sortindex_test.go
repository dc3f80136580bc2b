package gormstore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// An order the sort migration does not index is sorted on every page;
// once the operator adds its index (AddSortIndex) the first page and the
// pages after a key are read in index order, with no sort, on both
// databases — on PostgreSQL the pages after a key of an order whose keys
// go both ways as one index range per key (writeKeysetUnion), whose page
// of rows is then sorted; once dropped, it is sorted again.
func TestStore_AnOperatorsSortIndexServesItsOrder(t *testing.T) {
	t.Parallel()
	sorted := map[gormstore.Dialect]string{gormstore.Postgres: "Sort", gormstore.SQLite: "USE TEMP B-TREE"}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, d, tiedTickets(5000), gormstore.Config{})
			ctx := context.Background()
			for _, text := range []string{"assignee", "-assignee", "priority", "-priority", "-status", "-team", "team,-created_at,priority", "-assignee,status,-updated_at"} {
				sort, _ := domain.ParseSort(text)
				q := domain.Query{Sort: sort, Assignees: []string{"ann@example.com", ""}}
				first := readAll(t, s, domain.Query{Sort: sort, Limit: 50}, 0)
				k := domain.KeyOf(&first[len(first)-1])
				plans := func() (plans []string) {
					for _, after := range []*domain.RowKey{nil, &k} {
						plan, err := s.ExplainSorted(ctx, q, after, 50)
						if err != nil {
							t.Fatal(err)
						}
						plans = append(plans, plan)
					}
					return plans
				}
				if p := plans(); !strings.Contains(p[0], sorted[d]) {
					t.Errorf("sort=%s without its index: the first page is not sorted?\n%s", text, p[0])
				}
				name, err := s.AddSortIndex(ctx, sort)
				if err != nil {
					t.Fatalf("AddSortIndex(%s): %v", text, err)
				}
				if again, err := s.AddSortIndex(ctx, sort); err != nil || again != name {
					t.Fatalf("AddSortIndex(%s) again: %q, %v; want %q, nil", text, again, err, name)
				}
				for i, p := range plans() {
					if i == 1 && d == gormstore.Postgres && strings.Contains(text, "-") && !strings.HasPrefix(text, "-priority") && text != "-status" {
						// Keys both ways: one index range per key, each
						// cut to the page, then the page's rows sorted.
						if !strings.Contains(p, name) || !strings.Contains(p, "Append") || strings.Contains(p, "Seq Scan") {
							t.Errorf("sort=%s (after a key) with index %s: not a union of its ranges:\n%s", text, name, p)
						}
						continue
					}
					if !strings.Contains(p, name) || strings.Contains(p, sorted[d]) {
						t.Errorf("sort=%s (page %d) with index %s: not read in its order:\n%s", text, i+1, name, p)
					}
				}
				if dropped, existed, err := s.DropSortIndex(ctx, sort); err != nil || dropped != name || !existed {
					t.Fatalf("DropSortIndex(%s) = %q, %v, %v; want %q, true, nil", text, dropped, existed, err, name)
				}
				if _, existed, err := s.DropSortIndex(ctx, sort); err != nil || existed {
					t.Fatalf("DropSortIndex(%s) again: existed %v, %v; want false, nil", text, existed, err)
				}
				if p := plans(); strings.Contains(p[0], name) || !strings.Contains(p[0], sorted[d]) {
					t.Errorf("sort=%s: index %s dropped, yet:\n%s", text, name, p[0])
				}
			}
		})
	}
}

// SortIndexes lists the operator's sort indexes, and only theirs; the
// default order, which has its index, is refused; names fit PostgreSQL's
// 63 bytes and stay distinct.
func TestStore_SortIndexesListsTheOperatorsOnly(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, d, tiedTickets(20), gormstore.Config{})
			ctx := context.Background()
			long, _ := domain.ParseSort("-created_at,-priority,-team,-status,-assignee,-updated_at")
			other, _ := domain.ParseSort("-created_at,-priority,-team,-status,-assignee,updated_at")
			for _, sort := range []domain.Sort{long, other} {
				if _, err := s.AddSortIndex(ctx, sort); err != nil {
					t.Fatalf("AddSortIndex(%s): %v", sort, err)
				}
			}
			list, err := s.SortIndexes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || list[0].Name == list[1].Name {
				t.Fatalf("SortIndexes = %+v, want the two added", list)
			}
			for _, ix := range list {
				if len(ix.Name) > 63 || !strings.Contains(ix.Definition, "DESC") {
					t.Errorf("index %+v: name over 63 bytes or definition without its directions", ix)
				}
			}
			for _, text := range []string{"updated_at", "team", "-priority,created_at", "created_at", "status"} {
				schema, _ := domain.ParseSort(text)
				if _, err := s.AddSortIndex(ctx, schema); domain.ErrorCode(err) != domain.EInvalid || !strings.Contains(err.Error(), "the schema indexes") {
					t.Errorf("AddSortIndex(%s) = %v, want an invalid-input error: the schema indexes it", text, err)
				}
			}
		})
	}
}

// A PostgreSQL build that failed half-way leaves an index that is not
// ready: it is listed as such, no read uses it, and AddSortIndex builds it
// again. A second build while one runs is refused at once, not
// deadlocked.
func TestStore_SortIndexBuildsThatFailOrCollide(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	s := openStore(t, gormstore.Postgres, tiedTickets(200), gormstore.Config{})
	ctx := context.Background()
	sort, _ := domain.ParseSort("-team,created_at")
	name, err := s.AddSortIndex(ctx, sort)
	if err != nil {
		t.Fatal(err)
	}
	// What a cancelled CREATE INDEX CONCURRENTLY leaves.
	if err := s.Gorm().Exec("UPDATE pg_index SET indisvalid = false WHERE indexrelid = ?::regclass", name).Error; err != nil {
		t.Fatal(err)
	}
	list, err := s.SortIndexes(ctx)
	if err != nil || len(list) != 1 || list[0].Valid || strings.Contains(list[0].Definition, "\n") {
		t.Fatalf("SortIndexes = %+v, %v; want %s listed as not ready, on one line", list, err, name)
	}
	k := domain.KeyOf(&tiedTickets(200)[50])
	if plan, err := s.ExplainSorted(ctx, domain.Query{Sort: sort}, &k, 10); err != nil || strings.Contains(plan, "Append") {
		t.Errorf("a page after a key reads the ranges of an index that is not ready (%v):\n%s", err, plan)
	}
	if _, err := s.AddSortIndex(ctx, sort); err != nil {
		t.Fatal(err)
	}
	if list, err := s.SortIndexes(ctx); err != nil || len(list) != 1 || !list[0].Valid {
		t.Fatalf("after a rebuild: SortIndexes = %+v, %v; want it ready", list, err)
	}

	held, err := pgx.Connect(ctx, s.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(ctx)
	if _, err := held.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(0x7469636b_736f7274)); err != nil {
		t.Fatal(err)
	}
	other, _ := domain.ParseSort("assignee")
	for _, op := range []func() error{
		func() error { _, err := s.AddSortIndex(ctx, other); return err },
		func() error { _, _, err := s.DropSortIndex(ctx, sort); return err },
	} {
		if err := op(); domain.ErrorCode(err) != domain.EUnavailable || !strings.Contains(err.Error(), "another session is building or dropping a sort index") {
			t.Errorf("while another session builds: %v, want an unavailable error that says so", err)
		}
	}
}

// A sorted read of an order without an index of its own names it in the
// log, once, with the command that builds one; the schema's orders, and
// one the operator indexed, are never named.
func TestStore_AnOrderWithoutAnIndexIsNamedInTheLogOnce(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			var log portstest.LogBuffer
			s, closeStore, err := gormstore.Open(context.Background(), gormstore.Config{URL: newURL(t, d), Migrate: true}, slog.New(slog.NewTextHandler(&log, nil)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(closeStore)
			indexed, _ := domain.ParseSort("-status,created_at")
			if _, err := s.AddSortIndex(context.Background(), indexed); err != nil {
				t.Fatal(err)
			}
			for _, text := range []string{"assignee", "assignee", "team", "-updated_at", "-created_at", "-priority,created_at", "-status,created_at", "-team", "assignee"} {
				sort, _ := domain.ParseSort(text)
				readAll(t, s, domain.Query{Sort: sort, Limit: 5}, 0)
			}
			out := log.String()
			for text, want := range map[string]int{"assignee": 1, "-team": 1, "team": 0, "-updated_at": 0, "-created_at": 0, "-priority,created_at": 0, "-status,created_at": 0} {
				if got := strings.Count(out, "sort="+text+"\n"); got != want {
					t.Errorf("sort=%s named %d times, want %d; log:\n%s", text, got, want, out)
				}
			}
			if !strings.Contains(out, "--sort-index=ORDER") {
				t.Errorf("the log does not say how to build an index:\n%s", out)
			}
		})
	}
}

// While one sorted read lists the indexes (waiting here for the pool's
// only connection), another waits for that listing only as long as its
// own context allows; the listing, done for the store rather than for the
// first caller, still completes and serves the reads after it. (From an
// attack: the second read waited 2.8 s past its 200 ms deadline, and the
// first caller's deadline left the list empty for 30 s.)
func TestStore_ASortedReadWaitsForTheIndexListingOnlyAsItsContextAllows(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, tiedTickets(50), gormstore.Config{MaxOpenConns: 1})
	sort, _ := domain.ParseSort("-team")
	if _, err := s.AddSortIndex(ctx, sort); err != nil {
		t.Fatal(err)
	}
	tx := s.Gorm().Begin() // holds the only connection
	if tx.Error != nil {
		t.Fatal(tx.Error)
	}
	read := func(timeout time.Duration) error {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return s.StreamTickets(rctx, domain.Query{Sort: sort}, 0, ports.BatchHandlerFunc(func([]domain.Ticket) error { return nil }))
	}
	first := make(chan error, 1)
	go func() { first <- read(300 * time.Millisecond) }() // starts the listing
	done := make(chan error, 1)
	go func() { done <- read(200 * time.Millisecond) }()
	for _, c := range []chan error{first, done} {
		select {
		case err := <-c:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("a read with no connection to be had: %v, want its deadline", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a read waits for the index listing past its own deadline")
		}
	}
	tx.Rollback()
	k := domain.KeyOf(&tiedTickets(50)[10])
	if plan, err := s.ExplainSorted(ctx, domain.Query{Sort: sort}, &k, 5); err != nil || !strings.Contains(plan, "Append") {
		t.Errorf("index %s is ready, yet after the callers' deadlines the page after a key is not the union of its ranges (%v):\n%s", gormstore.SortIndexName(sort), err, plan)
	}
}

// A build cancelled half-way (the operator's Ctrl-C) leaves no session
// holding the build lock, nor one without a statement timeout, in the
// pool: the next build goes ahead. (From an attack: the late cancel
// request of the cancelled build cancelled the unlock too.)
func TestStore_ACancelledSortIndexBuildLeavesNoLock(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	s := openStore(t, gormstore.Postgres, tiedTickets(200), gormstore.Config{})
	// An open writing transaction: CREATE INDEX CONCURRENTLY waits for it.
	writer, err := pgx.Connect(ctx, s.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(ctx)
	wtx, err := writer.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wtx.Exec(ctx, "UPDATE tickets SET subject = subject WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	sort, _ := domain.ParseSort("-assignee,status")
	bctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = s.AddSortIndex(bctx, sort)
	cancel()
	if err == nil {
		t.Fatal("the build waiting for a writer was not cancelled")
	}
	wtx.Rollback(ctx)
	var holders, untimed int
	for range 5 { // every pooled session
		if err := s.Gorm().Raw(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND classid = x'7469636b'::int::oid AND objid = x'736f7274'::int::oid
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&holders).Error; err != nil {
			t.Fatal(err)
		}
		var timeout string
		if err := s.Gorm().Raw("SHOW statement_timeout").Scan(&timeout).Error; err != nil {
			t.Fatal(err)
		}
		if timeout == "0" {
			untimed++
		}
	}
	if holders != 0 || untimed != 0 {
		t.Errorf("after a cancelled build: %d sessions hold the build lock, %d pooled sessions run without a statement timeout", holders, untimed)
	}
	other, _ := domain.ParseSort("assignee,-team")
	if _, err := s.AddSortIndex(ctx, other); err != nil {
		t.Errorf("the next build: %v", err)
	}
	if _, err := s.AddSortIndex(ctx, sort); err != nil {
		t.Errorf("the cancelled build again: %v", err)
	}
}
