package app

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A ticket the resumed billing dashboard holds leaves billing — moved to
// sales, or deleted — after the restore has read it from the database but
// before the view holds that (now stale) row, and the hub offers the change
// in between, when the view does not hold the ticket yet. The restore must
// still have the dashboard drop it, and its counts must come.
func TestRestoreView_ATicketGoneWhileTheRestoreReadsIsRemoved(t *testing.T) {
	t.Parallel()
	for _, del := range []bool{false, true} {
		name := "moved to sales"
		if del {
			name = "deleted"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			goneWhileRestoring(t, del)
		})
	}
}

// staleSource reads its rows (one snapshot, as a REPEATABLE READ query or a
// server-side cursor does), then runs mid before handing them over: a
// change committed after the read is offered live before the restore holds
// the (stale) row.
type staleSource struct {
	feed *portstest.Feed
	mid  func()
}

func (s *staleSource) StreamTickets(ctx context.Context, q domain.Query, n int, h ports.BatchHandler) error {
	var rows []domain.Ticket
	if err := s.feed.StreamTickets(ctx, q, n, ports.BatchHandlerFunc(func(b []domain.Ticket) error {
		rows = append(rows, b...)
		return nil
	})); err != nil {
		return err
	}
	if s.mid != nil {
		s.mid()
	}
	if len(rows) == 0 {
		return nil
	}
	return h.HandleBatch(rows)
}

// twoBillingTickets returns two demo tickets of team billing, from seed.
func twoBillingTickets(seed uint64) (domain.Ticket, domain.Ticket) {
	tks := demodata.New(seed).Tickets(2)
	tks[0].Team, tks[1].Team = "billing", "billing"
	return tks[0], tks[1]
}

// billingQuery is the filter of the billing dashboards these tests resume.
var billingQuery = domain.Query{Teams: []string{"billing"}}

// resumeBilling starts a hub on feed once it has read up to end and
// resumes a billing dashboard at cursor with scope: the hub and the
// resumed subscription, closed with the test, and its catch-up's end.
func resumeBilling(t *testing.T, feed *portstest.Feed, cursor, end domain.ChangePos, scope domain.Scope) (*Hub, *Subscription, domain.ChangePos) {
	t.Helper()
	h := startHub(t, feed, HubConfig{}, nil)
	portstest.WaitFor(t, 5*time.Second, "hub", func() bool { return h.Position().Includes(end) })
	s, until, err := h.Subscribe(context.Background(), billingQuery, SubscribeOptions{SkipUntil: cursor, After: cursor, Resumed: true, Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return h, s, until
}

func goneWhileRestoring(t *testing.T, del bool) {
	t.Helper()
	feed := portstest.NewFeed()
	tk := demodata.New(77).Tickets(1)[0]
	tk.Team = "billing"
	cursor := feed.Put(tk) // the dashboard holds tk at the cursor
	h, s, until := resumeBilling(t, feed, cursor, cursor, domain.Scope{Teams: []string{"billing"}})
	q := billingQuery
	src := &staleSource{feed: feed, mid: func() {
		var moved domain.ChangePos
		if del {
			moved = feed.Remove(tk.ID)
		} else {
			t2 := tk
			t2.Team, t2.UpdatedAt = "sales", t2.UpdatedAt.Add(time.Minute)
			moved = feed.Put(t2)
		}
		portstest.WaitFor(t, 5*time.Second, "move offered live", func() bool { return h.Position().Includes(moved) })
	}}
	st, err := NewStreamer(src, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RestoreView(context.Background(), q, domain.LiveCursor{SnapshotDone: true, Live: cursor}, s); err != nil {
		t.Fatal(err)
	}
	holds := map[int64]bool{tk.ID: true} // the dashboard's screen
	apply := func(ds []Delivery) error {
		s.Apply(ds)
		for i := range ds {
			r := decodeDelivery(t, ds[i])
			holds[r.id] = r.op != "remove"
			ds[i].Release()
		}
		return nil
	}
	_ = apply(h.ResumeRemovals(s, cursor))
	if err := h.CatchUp(context.Background(), q, cursor, until, s.Holds, apply); err != nil {
		t.Fatal(err)
	}
	s.Settle()
	// Drain live deliveries for a while.
	deadline := time.Now().Add(time.Second)
	var batch []Delivery
	for time.Now().Before(deadline) {
		batch, err = s.Take(batch[:0], 64*1024)
		if err != nil {
			t.Fatal(err)
		}
		for i := range batch {
			r := decodeDelivery(t, batch[i])
			holds[r.id] = r.op != "remove"
			batch[i].Release()
		}
		time.Sleep(10 * time.Millisecond)
	}
	if holds[tk.ID] {
		t.Errorf("the billing dashboard still shows ticket %d, which left billing (deleted=%v) during the resume", tk.ID, del)
	}
	if s.Holds(tk.ID) {
		t.Errorf("the view still counts ticket %d", tk.ID)
	}
	if !s.CountsDue() && !s.CountsKnown() {
		t.Errorf("counts never due: the resumed dashboard's counts are withheld forever")
	}
}

// Y left billing for security before the billing dashboard's snapshot
// (watermark W): the dashboard can never have held it. Y is then edited in
// security while the dashboard is away. On resume the billing dashboard must
// hear nothing of Y.
func TestResume_ATicketThatLeftTheTeamsBeforeTheSnapshotStaysUnnamed(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	y, b := twoBillingTickets(80)
	feed.Put(y, b)
	y.Team = "security"
	feed.Put(y) // left billing long ago
	b.Subject = "watermark"
	w := feed.Put(b) // the billing dashboard's fresh snapshot + cursor
	y.Subject = "secret incident update"
	feed.Put(y) // changes in security while the dashboard is away
	b.Subject = "marker"
	end := feed.Put(b)
	h, s, until := resumeBilling(t, feed, w, end, domain.Scope{Teams: []string{"billing"}})
	for _, r := range resumeDeliveries(t, h, feed, billingQuery, w, until, s) {
		if r.id == y.ID {
			t.Errorf("billing dashboard (snapshot after Y left billing) heard %s of security ticket %d: its id and that it changed", r.op, y.ID)
		}
	}
}

// X, which the billing dashboard holds from its snapshot (watermark W),
// leaves billing at P1; the dashboard stands at L after P1 without having
// had X's change (a later change of X, at P2 after L, carried it past the
// cursor). X's departure is older than the retention and pruned, though L
// is not. A restore read back from the database cannot tell that the
// dashboard holds X: it must not resume (ErrDeparturesPruned: the client
// starts afresh) rather than leave X on the screen for good.
func TestRestoreView_DeparturesPrunedSinceTheSnapshotRefuseTheResume(t *testing.T) {
	t.Parallel()
	feed := portstest.NewFeed()
	x, other := twoBillingTickets(81)
	w := feed.Put(x, other) // the dashboard's snapshot: it holds X
	x.Team = "sales"
	feed.Put(x) // P1: X leaves billing
	other.Subject = "edited"
	l := feed.Put(other) // the dashboard's cursor: after P1
	x.Subject = "edited in sales"
	end := feed.Put(x) // P2: X's latest change, after the cursor
	if _, err := feed.PruneRemovals(context.Background(), time.Now().Add(time.Hour), l); err != nil {
		t.Fatal(err)
	}
	oldest, err := feed.ResumableAfter(context.Background())
	if err != nil || !l.Includes(oldest) || w.Includes(oldest) {
		t.Fatalf("set-up: retained history from %v (%v); want the cursor %v in it and the watermark %v not", oldest, err, l, w)
	}
	h := startHub(t, feed, HubConfig{}, nil)
	portstest.WaitFor(t, 5*time.Second, "hub", func() bool { return h.Position().Includes(end) })
	cursor := domain.LiveCursor{Cluster: 1, SnapshotDone: true, Watermark: w, Live: l}
	if reason, err := h.CheckResume(context.Background(), cursor); err != nil || reason != "" {
		t.Fatalf("CheckResume: %q, %v; the cursor itself is within the history", reason, err)
	}
	q := domain.Query{Teams: []string{"billing"}}
	for _, tc := range []struct {
		name  string
		scope domain.Scope
		want  error
	}{
		{"scoped to billing", domain.Scope{Teams: []string{"billing"}}, ErrDeparturesPruned},
		{"every team", domain.Scope{AllTeams: true}, nil}, // every change may be one it holds: no departure is asked
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := h.Subscribe(context.Background(), q, SubscribeOptions{SkipUntil: l, After: l, Resumed: true, Scope: tc.scope})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			st, err := NewStreamer(feed, Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.RestoreView(context.Background(), q, cursor, s); !errors.Is(err, tc.want) {
				t.Fatalf("RestoreView: %v, want %v", err, tc.want)
			}
			if tc.want == nil {
				if ds := h.ResumeRemovals(s, l); len(ds) != 1 || decodeDelivery(t, ds[0]).id != x.ID {
					t.Errorf("the dashboard of every team is not told to drop X (%d removals)", len(ds))
				}
			}
		})
	}
}

// On a feed whose departures may name a ticket that was in a team only
// inside one transaction (SQLite), a scoped restore read back from the
// database that would name a departed ticket it does not hold refuses
// instead (ErrDeparturesInexact): the dashboard starts afresh rather than
// be told an id it perhaps never could see. One that names none resumes.
func TestRestoreView_InexactDeparturesRefuseRatherThanName(t *testing.T) {
	t.Parallel()
	for _, departed := range []bool{true, false} {
		t.Run(fmt.Sprintf("a ticket left billing: %v", departed), func(t *testing.T) {
			t.Parallel()
			feed := portstest.NewFeed()
			feed.SetDeparturesInexact()
			x, other := twoBillingTickets(82)
			w := feed.Put(x, other)
			if departed {
				x.Team = "sales"
			} else {
				x.Subject = "edited in billing"
			}
			end := feed.Put(x)
			_, s, _ := resumeBilling(t, feed, w, end, domain.Scope{Teams: []string{"billing"}})
			st, err := NewStreamer(feed, Config{})
			if err != nil {
				t.Fatal(err)
			}
			err = st.RestoreView(context.Background(), billingQuery, domain.LiveCursor{Cluster: 1, SnapshotDone: true, Watermark: w, Live: w}, s)
			if want := map[bool]error{true: ErrDeparturesInexact, false: nil}[departed]; !errors.Is(err, want) {
				t.Fatalf("RestoreView: %v, want %v", err, want)
			}
			if departed && !errors.Is(err, ErrCannotRestore) {
				t.Fatalf("%v is not an ErrCannotRestore", err)
			}
		})
	}
}
