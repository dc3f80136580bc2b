package app

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// departuresScenario writes, after the tickets were put, the changes a
// billing dashboard that resumes must hear of — and those it must not — and
// returns what it must get: ticket id → "upsert" or "remove". The last
// change is an upsert of marker.
func departuresScenario(feed *portstest.Feed, tickets []domain.Ticket) (want map[int64]string, marker int64) {
	movedOut, deleted, edited, movedIn := tickets[0], tickets[1], tickets[2], tickets[3] // billing, billing, billing, sales
	salesDeleted, salesEdited, salesMoved := tickets[4], tickets[5], tickets[6]          // sales
	movedOut.Team = "sales"                                                              // a held billing ticket leaves
	edited.Subject = "still billing"                                                     // stays
	movedIn.Team = "billing"                                                             // arrives
	salesEdited.Subject = "none of billing's business"                                   // never billing's
	salesMoved.Team = "security"                                                         // left sales, not billing
	feed.Put(movedOut, edited, movedIn, salesEdited, salesMoved)
	feed.Remove(deleted.ID, salesDeleted.ID)
	last := tickets[7] // billing
	last.Subject = "marker"
	feed.Put(last)
	return map[int64]string{movedOut.ID: "remove", deleted.ID: "remove", edited.ID: "upsert", movedIn.ID: "upsert", last.ID: "upsert"}, last.ID
}

func departuresTickets() []domain.Ticket {
	tickets := demodata.New(21).Tickets(8)
	for i := range tickets {
		tickets[i].Team = "sales"
		tickets[i].Status = domain.StatusOpen
		if i < 3 || i == 7 {
			tickets[i].Team = "billing"
		}
	}
	return tickets
}

// A dashboard that resumes may hold any ticket of its scope as it was at
// its cursor: it must get the removal of a ticket that left its teams since
// (moved elsewhere, or deleted), and nothing — not even the id — of a ticket
// that was never in them. Both ways a resumed dashboard hears of changes are
// checked: the catch-up read, and live changes before its view is
// restored; in both the restore names the tickets that left its teams
// (ports.ChangeFeed.Departed), which no change can.
func TestResume_RemovalsFollowTheTeamsATicketLeft(t *testing.T) {
	t.Parallel()
	billing := domain.Scope{Teams: []string{"billing"}}
	q := domain.Query{Teams: []string{"billing"}}
	for _, tc := range []struct {
		name string
		read func(t *testing.T, feed *portstest.Feed, tickets []domain.Ticket) (map[int64]string, []received)
	}{
		{"catch-up", func(t *testing.T, feed *portstest.Feed, tickets []domain.Ticket) (map[int64]string, []received) {
			cursor := feed.Put(tickets...)
			want, _ := departuresScenario(feed, tickets)
			h := startHub(t, feed, HubConfig{BatchSize: 3}, nil)
			s, until, err := h.Subscribe(context.Background(), q, SubscribeOptions{SkipUntil: cursor, After: cursor, Resumed: true, Scope: billing})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			return want, resumeDeliveries(t, h, feed, q, cursor, until, s)
		}},
		{"live, before the view is restored", func(t *testing.T, feed *portstest.Feed, tickets []domain.Ticket) (map[int64]string, []received) {
			cursor := feed.Put(tickets...)
			h := startHub(t, feed, HubConfig{BatchSize: 3}, nil)
			portstest.WaitFor(t, 5*time.Second, "the hub at the cursor", func() bool { return h.Position().Includes(cursor) })
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, until, err := h.Subscribe(ctx, q, SubscribeOptions{SkipUntil: cursor, After: cursor, Resumed: true, Scope: billing})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want, marker := departuresScenario(feed, tickets)
			var got []received
			for !slices.ContainsFunc(got, func(r received) bool { return r.id == marker }) {
				got = append(got, takeN(t, s, 1)...)
			}
			return want, append(got, resumeDeliveries(t, h, feed, q, cursor, until, s)...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			feed := portstest.NewFeed()
			tickets := departuresTickets()
			want, got := tc.read(t, feed, tickets)
			seen := map[int64]string{}
			for _, r := range got {
				if _, ok := want[r.id]; !ok {
					t.Errorf("a billing dashboard heard %s of ticket %d, never of its teams", r.op, r.id)
					continue
				}
				seen[r.id] = r.op
			}
			for id, op := range want {
				if seen[id] != op {
					t.Errorf("ticket %d: got %q, want %q", id, seen[id], op)
				}
			}
		})
	}
}

// resumeDeliveries restores s's view as the gateway does for a dashboard
// resuming from cursor, and returns the removals it is sent first and its
// catch-up up to until.
func resumeDeliveries(t *testing.T, h *Hub, feed *portstest.Feed, q domain.Query, cursor, until domain.ChangePos, s *Subscription) []received {
	t.Helper()
	st, err := NewStreamer(feed, Config{})
	if err != nil {
		t.Fatal(err)
	}
	// The dashboard's snapshot, whole, was read at its cursor.
	if err := st.RestoreView(context.Background(), q, domain.LiveCursor{SnapshotDone: true, Watermark: cursor, Live: cursor}, s); err != nil {
		t.Fatal(err)
	}
	var got []received
	take := func(ds []Delivery) error {
		s.Apply(ds)
		for i := range ds {
			got = append(got, decodeDelivery(t, ds[i]))
			ds[i].Release()
		}
		return nil
	}
	if err := take(h.ResumeRemovals(s, cursor)); err != nil {
		t.Fatal(err)
	}
	if err := h.CatchUp(context.Background(), q, cursor, until, s.Holds, take); err != nil {
		t.Fatal(err)
	}
	return got
}
