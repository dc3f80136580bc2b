package wsgateway_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

// A dashboard may start its snapshot after a cursor (the `cursor` query
// parameter with a REST page cursor): it holds only the rows after it. Its
// live cursor records where the snapshot stands, not where it started, and
// the resume's restored view counts every row of the filter up to the
// snapshot cursor — rows the dashboard was never sent. The counts message
// of the resume then describes more tickets than the dashboard holds
// (issue 15, Deliver 4: counts describe exactly what the dashboard holds
// once it has applied the message, including after a resume).
func TestAttack15_ResumeOfASnapshotStartedAfterACursorCountsRowsNeverSent(t *testing.T) {
	t.Parallel()
	tickets := demodata.New(1501).Tickets(10)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range tickets {
		tickets[i].UpdatedAt = base.Add(time.Duration(i) * time.Minute)
	}
	slices.SortFunc(tickets, func(a, b domain.Ticket) int { return a.Cursor().Compare(b.Cursor()) })
	f := newFixture(t, tickets, wsgateway.Options{})
	f.waitHubIdle(t)
	ctx := context.Background()
	after := f.cursors.CursorString(tickets[3].Cursor()) // start after the 4th row
	view := &wsclient.View{}
	c := f.connect(t, "cursor="+after, "admin", view)
	if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	if len(view.Tickets) != 6 {
		t.Fatalf("the snapshot after the 4th row brought %d tickets, want 6", len(view.Tickets))
	}
	if err := view.CheckTotals(); err != nil {
		t.Fatalf("before the resume: %v", err)
	}
	c.Conn.CloseNow()

	c = f.connect(t, "", "admin", view) // resumes from view.Cursor
	deadline, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		m, err := c.Next(deadline)
		if err != nil {
			t.Fatalf("no counts message after the resume: %v", err)
		}
		if m.Type == "resync" {
			t.Fatalf("resume refused: %s", m.Reason)
		}
		if m.Type == "counts" || m.Counts != nil {
			break
		}
	}
	if err := view.CheckTotals(); err != nil {
		t.Fatalf("after the resume, the counts describe what the dashboard does not hold: %v", err)
	}
}
