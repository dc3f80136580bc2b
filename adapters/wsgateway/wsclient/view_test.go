package wsclient

import (
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// A resync drops what the view held, and its counts with it: the counts
// after it name only the buckets the fresh subscription moved, so counts
// kept from before would describe tickets the view no longer holds (the
// proof saw "counts say 132 solved, the view holds 0" on SQLite, where a
// scoped resume read back from the database resyncs). So does a new
// subscription on the socket.
func TestView_AResyncOrANewSubscriptionDropsTheCounts(t *testing.T) {
	t.Parallel()
	ticket := func(id int64, status domain.Status) *domain.Ticket {
		return &domain.Ticket{ID: id, Team: "billing", Status: status, UpdatedAt: time.Unix(1_700_000_000+id, 0).UTC()}
	}
	for _, tc := range []struct {
		name  string
		reset Message
	}{
		{"resync", Message{Type: "resync", Sub: 1}},
		{"a new subscription", Message{Type: "snapshot", Sub: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v View
			v.Apply(&Message{Type: "snapshot", Sub: 1, Tickets: []domain.Ticket{*ticket(1, domain.StatusSolved), *ticket(2, domain.StatusSolved)}})
			v.Apply(&Message{Type: "end", Sub: 1, Counts: &Totals{Total: 2, Status: map[string]int{"solved": 2}, Team: map[string]int{"billing": 2}}})
			if err := v.CheckTotals(); err != nil {
				t.Fatalf("before: %v", err)
			}
			v.Apply(&tc.reset)
			sub := tc.reset.Sub
			v.Apply(&Message{Type: "changes", Sub: sub, Counts: &Totals{Total: 1, Status: map[string]int{"new": 1}, Team: map[string]int{"billing": 1}},
				Changes: []Change{{Op: "upsert", ID: 3, Ticket: ticket(3, domain.StatusNew)}}})
			if err := v.CheckTotals(); err != nil {
				t.Fatalf("after %s and one change: %v", tc.name, err)
			}
		})
	}
}
