package gormstore

import (
	"testing"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// A page kept for the next read holds no ticket of the last one — also not
// one whose row was read and then skipped (it did not decode), which sat
// past the page's length where clearing up to the length missed it.
func TestChangePage_ResetKeepsNoTicketAfterASkippedRow(t *testing.T) {
	var p changePage
	p.changed = append(p.changed, ports.Change{Pos: domain.ChangePos{Seq: 9, ID: 1}, Ticket: domain.Ticket{ID: 1, Subject: "read"}})
	p.readChanged()
	p.changed = append(p.changed, ports.Change{Pos: domain.ChangePos{Seq: 9, ID: 2}, Ticket: domain.Ticket{ID: 2, Team: "another team", Subject: "skipped"}})
	p.skipChanged(rowKey{9, 2})
	p.reset()
	for i, c := range p.changed[:cap(p.changed)] {
		if c.Ticket.ID != 0 || c.Ticket.Subject != "" {
			t.Errorf("slot %d of a reset page still holds ticket %d %q", i, c.Ticket.ID, c.Ticket.Subject)
		}
	}
}
