package gormstore

import (
	"context"
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
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
			st := pgStream{ctx: context.Background(), sel: buildSelect(&postgresStyle, domain.Query{}, false)}
			var rb rawBatch
			err := s.eng.(*postgresEngine).withPgx(context.Background(), func(c *pgx.Conn) error {
				args := []any{}
				if format == "text" {
					args = append(args, pgx.QueryResultFormats{0})
				}
				at, id := dbCursor(domain.Cursor{})
				rows, err := c.Query(context.Background(), st.sel.text, append(args, at, id, 1000)...)
				if err != nil {
					return err
				}
				return st.readRaw(rows, &rb, 0)
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.fast != (format == "binary") {
				t.Fatalf("fast path chosen = %v for %s rows", st.fast, format)
			}
			var pd pageDecoder
			got, err := pd.decode(&rb, nil)
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
			last, err := st.last.lastCursor(&rb)
			if err != nil || last.Compare(want[len(want)-1].Cursor()) != 0 {
				t.Fatalf("lastCursor = %v, %v; want %v", last, err, want[len(want)-1].Cursor())
			}
			key, err := st.last.lastKey(&rb)
			if wantKey := domain.KeyOf(&want[len(want)-1]); err != nil || key != wantKey {
				t.Fatalf("lastKey = %+v, %v; want %+v", key, err, wantKey)
			}
		})
	}
}

// TestTextArena_PiecesMatchTheirRowsAndOutliveTheBatch checks the per-batch
// string of subjects and requesters: each piece equals its column, a value
// the arena was not filled from still comes back right (as a string of its
// own), and pieces do not change when the batch's memory is reused.
func TestTextArena_PiecesMatchTheirRowsAndOutliveTheBatch(t *testing.T) {
	t.Parallel()
	row := func(subject, requester string) [][]byte {
		vals := make([][]byte, len(pgColumnOIDs))
		for i := range vals {
			vals[i] = []byte{}
		}
		vals[2], vals[5] = []byte(subject), []byte(requester)
		return vals
	}
	for _, tc := range []struct {
		name string
		rows [][2]string
	}{
		{"one row", [][2]string{{"Printer jams", "ann@example.com"}}},
		{"empty values", [][2]string{{"", ""}, {"x", ""}, {"", "y"}}},
		{"repeated values", [][2]string{{"same", "same"}, {"same", "same"}}},
		{"non-ASCII", [][2]string{{"Drucker 🖨 streikt", "jörg@example.de"}, {"second", "b@example.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rb rawBatch
			for _, r := range tc.rows {
				if err := rb.add(row(r[0], r[1])); err != nil {
					t.Fatal(err)
				}
			}
			var a textArena
			vals := make([][]byte, len(pgColumnOIDs))
			a.fill(&rb)
			var got []string
			for i := range rb.rows {
				rb.row(i, vals)
				for c, v := range vals {
					if w := rb.value(i, c); string(w) != string(v) {
						t.Fatalf("row %d column %d: value %q, row %q", i, c, w, v)
					}
				}
				got = append(got, a.next(vals[2]), a.next(vals[5]))
			}
			if a.off != len(a.s) {
				t.Fatalf("the arena handed out %d of its %d bytes: pieces were not cut from it", a.off, len(a.s))
			}
			if stray := a.next([]byte("not in the batch")); stray != "not in the batch" {
				t.Fatalf("a value the arena was not filled from came back as %q", stray)
			}
			rb.reset() // the batch's memory is reused for other rows
			for range tc.rows {
				if err := rb.add(row("XXXXXXXXXXXXXXXXXXXXXXXX", "YYYYYYYYYYYYYYYYYYYYYYYY")); err != nil {
					t.Fatal(err)
				}
			}
			for i, r := range tc.rows {
				if got[2*i] != r[0] || got[2*i+1] != r[1] {
					t.Fatalf("row %d: subject %q requester %q; want %q, %q", i, got[2*i], got[2*i+1], r[0], r[1])
				}
			}
		})
	}
}

// binaryRow encodes t's ticketColumns as PostgreSQL sends them in binary.
func binaryRow(tb testing.TB, m *pgtype.Map, t domain.Ticket) [][]byte {
	tb.Helper()
	vals := []any{t.ID, t.Team, t.Subject, string(t.Status), string(t.Priority), t.Requester, t.Assignee, t.Tags, t.CreatedAt, t.UpdatedAt}
	row := make([][]byte, len(vals))
	for i, v := range vals {
		b, err := m.Encode(pgColumnOIDs[i], pgtype.BinaryFormatCode, v, []byte{}) // not nil: nil is NULL
		if err != nil {
			tb.Fatalf("encode column %d: %v", i, err)
		}
		row[i] = b
	}
	return row
}

// BenchmarkPageDecode decodes 4,000-row pages of demo tickets, as the
// stream's goroutine does with each page the reader hands it:
//
//	go test -run '^$' -bench PageDecode -benchmem ./adapters/gormstore
func BenchmarkPageDecode(b *testing.B) {
	m := pgtype.NewMap()
	var rb rawBatch
	rb.fast = true
	for _, t := range demodata.New(1).Tickets(4000) {
		if err := rb.add(binaryRow(b, m, t)); err != nil {
			b.Fatal(err)
		}
	}
	var pd pageDecoder
	batch := make([]domain.Ticket, 0, rb.rows)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var err error
		if batch, err = pd.decode(&rb, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rb.rows), "ns/row")
}

// The fast decoder takes only what it reads exactly as pgx would, and
// leaves the rest to pgx, whose error names the row it skips: ±infinity and
// times past what Unix microseconds hold (it used to overflow them into
// dates in the year -290278, which the skip log then showed), and tags with
// bytes after the last element. An empty array of one dimension is [], as
// pgx gives it, not null.
func TestRowDecoder_RefusesWhatPgxMustExplain(t *testing.T) {
	t.Parallel()
	be64 := func(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	tags := func(elems ...string) []byte {
		b := slices.Concat(be32(1), be32(0), be32(pgtype.TextOID), be32(uint32(len(elems))), be32(1))
		for _, e := range elems {
			b = append(append(b, be32(uint32(len(e)))...), e...)
		}
		return b
	}
	row := func(mutate func(vals [][]byte)) [][]byte {
		vals := [][]byte{be64(7), []byte("billing"), []byte("Printer jams"), []byte("open"), []byte("high"),
			[]byte("ann@example.com"), []byte(""), tags("printer"), be64(0), be64(1)}
		mutate(vals)
		return vals
	}
	for _, tc := range []struct {
		name   string
		mutate func(vals [][]byte)
		ok     bool
	}{
		{"a plain row", func([][]byte) {}, true},
		{"updated_at infinity", func(v [][]byte) { v[9] = be64(math.MaxInt64) }, false},
		{"created_at -infinity", func(v [][]byte) { v[8] = be64(math.MinInt64) }, false},
		{"updated_at past Unix microseconds", func(v [][]byte) { v[9] = be64(math.MaxInt64 - 1) }, false},
		{"tags with bytes after the last", func(v [][]byte) { v[7] = append(tags("a", "b"), 0, 1) }, false},
		{"tags one-dimensional and empty", func(v [][]byte) { v[7] = tags() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d rowDecoder
			var tk domain.Ticket
			err := d.decode(row(tc.mutate), &tk)
			if (err == nil) != tc.ok {
				t.Fatalf("decode = %v, want ok %v", err, tc.ok)
			}
			if err == nil && tk.Tags == nil {
				t.Fatalf("tags decoded as nil, want []")
			}
		})
	}
}
