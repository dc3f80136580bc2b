package app

import (
	"testing"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// A feed may hand over a batch with nothing in it (every row of a page
// skipped, say): the hub must neither panic nor move its position.
func TestHub_HandleChangesAcceptsAnEmptyBatch(t *testing.T) {
	t.Parallel()
	for _, batch := range [][]ports.Change{nil, {}} {
		h, err := NewHub(portstest.NewFeed(), HubConfig{poisonReleased: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := &Subscription{hub: h}
		h.subs = append(h.subs, s)
		before := domain.ChangePos{Xmax: 7, Seq: 7, ID: 3}
		h.pos = before
		if err := h.HandleChanges(batch); err != nil {
			t.Fatalf("HandleChanges(%#v) = %v, want nil", batch, err)
		}
		if got := h.Position(); !got.Equal(before) {
			t.Fatalf("an empty batch moved the position from %+v to %+v", before, got)
		}
		if got := h.Stats().Changes; got != 0 {
			t.Fatalf("an empty batch counted %d changes", got)
		}
		s.Close()
		assertHubBuffersReturned(t, h)
	}
}
