package gormstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// TestPgStream_FastAndGenericDecodersAgree reads the same rows through the
// binary fast path and through pgx's type map with every column in text
// format (the fallback for a server that sends what the fast path does not
// expect), and checks both give the tickets that were written.
func TestPgStream_FastAndGenericDecodersAgree(t *testing.T) {
	t.Parallel()
	s, closeStore, err := Open(context.Background(), Config{URL: pgtest.NewDatabase(t), Migrate: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	want := portstest.SortedTickets(portstest.ContractTickets()[:300])
	if err := s.InsertTickets(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"binary", "text"} {
		t.Run(format, func(t *testing.T) {
			st := pgStream{s: s, ctx: context.Background(), sel: buildSelect(Postgres, domain.Query{})}
			var rb rawBatch
			err := s.withPgx(context.Background(), func(c *pgx.Conn) error {
				args := []any{}
				if format == "text" {
					args = append(args, pgx.QueryResultFormats{0})
				}
				at, id := dbCursor(domain.Cursor{})
				rows, err := c.Query(context.Background(), st.sel.text, append(args, at, id, 1000)...)
				if err != nil {
					return err
				}
				return st.readRaw(rows, &rb)
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.fast != (format == "binary") {
				t.Fatalf("fast path chosen = %v for %s rows", st.fast, format)
			}
			got, err := st.decode(&rb, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d rows, want %d", len(got), len(want))
			}
			for i := range want {
				if d := portstest.DiffTicket(got[i], want[i]); d != "" {
					t.Fatalf("row %d: %s", i, d)
				}
			}
			last, err := st.lastCursor(&rb)
			if err != nil || last.Compare(want[len(want)-1].Cursor()) != 0 {
				t.Fatalf("lastCursor = %v, %v; want %v", last, err, want[len(want)-1].Cursor())
			}
		})
	}
}
