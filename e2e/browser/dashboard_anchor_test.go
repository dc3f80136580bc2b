package browser

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/e2e"
)

// The page sorts timestamps at the server's precision: two tickets created
// within one millisecond are listed as REST and a server window list them
// (an attack found Date.parse's milliseconds reversing them).
func TestDashboard_ThePageSortsTimesAsTheServerDoes(t *testing.T) {
	srv := e2e.StartServer(t, gormstore.SQLite, nil)
	db := e2e.NewSQLEditor(t, srv.URL)
	// One hour ahead so both are the newest; 800 µs apart, in one millisecond.
	base := time.Now().Add(time.Hour).Truncate(time.Millisecond).UnixMicro()
	for _, x := range []struct{ id, at int64 }{{900001, base + 100}, {900002, base + 900}} {
		db.Exec(`INSERT INTO tickets (id, team, subject, status, priority, requester, created_at, updated_at)
			VALUES (?, 'billing', 'same ms', 'open', 'high', 'a@example.com', ?, ?)`, x.id, x.at, x.at)
	}
	tab := newBrowserTab(t, 1280, 800)
	tab.open(srv.Base + "/?sort=-created_at")
	n := db.Count("1 = 1")
	tab.waitFor("held whole and live", fmt.Sprintf(`!ticketstream.windowed() && ticketstream.state() === "live" && ticketstream.size() === %d`, n), 30*time.Second)
	checkOrder(t, tab, idsInOrder(t, db, "1 = 1", "created_at DESC, id", n), "by created_at, descending (as REST sort=-created_at)")
}

// Scroll anchoring holds when the first rows in view themselves leave the
// view: the row under the reader's eyes stays put.
func TestDashboard_RowsStayPutWhenTheAnchorRowLeaves(t *testing.T) {
	srv := e2e.StartServer(t, gormstore.SQLite, nil)
	db := e2e.NewSQLEditor(t, srv.URL)
	tab := newBrowserTab(t, 1280, 800)
	tab.open(srv.Base + "/?status=open")
	tab.checkShows(db.Count("status = ?", "open"))

	eval[int](tab, `(document.getElementById("table-wrap").scrollTop = 40 * document.querySelector("#rows tr.row").getBoundingClientRect().height, 0)`)
	time.Sleep(300 * time.Millisecond) // the scroll's rows drawn and its anchor taken
	// The first row whose top is below the sticky header, and the one before: one is the anchor.
	gone := eval[[]int64](tab, `(() => { const h = document.querySelector("#tickets thead").getBoundingClientRect().bottom;
		const rows = [...document.querySelectorAll("#rows tr.row")]; const i = rows.findIndex(r => r.getBoundingClientRect().bottom > h);
		return [Number(rows[i].dataset.id), Number(rows[i+1].dataset.id)]; })()`)
	watched := eval[int64](tab, `ticketstream.order()[ticketstream.order().indexOf(`+fmt.Sprint(gone[1])+`) + 3]`)
	// The virtual table draws the rows of the new scroll position in the next frame.
	tab.waitFor("the watched row drawn", `document.querySelector('`+rowSelector(watched)+`') !== null`, liveWithin)
	top := func() float64 {
		tab.waitFor("the watched row drawn", `document.querySelector('`+rowSelector(watched)+`') !== null`, liveWithin)
		return eval[float64](tab, `document.querySelector('`+rowSelector(watched)+`').getBoundingClientRect().top`)
	}
	before := top()
	db.Exec(`UPDATE tickets SET status = 'solved' WHERE id IN (?, ?)`, gone[0], gone[1]) // updated_at unchanged: only these two leave
	tab.waitFor("the two rows gone", fmt.Sprintf(`!ticketstream.ticket(%d) && !ticketstream.ticket(%d)`, gone[0], gone[1]), liveWithin)
	time.Sleep(300 * time.Millisecond)
	if after := top(); math.Abs(after-before) > 1 {
		t.Fatalf("the row under the reader's eyes moved from %.0f to %.0f px when the first rows in view left", before, after)
	}
}

// A sorted view that grows past the page's limit while shown becomes a
// server window, and one that shrinks well below it is held whole again:
// the choice follows the counts, with a margin so that a view near the
// limit does not switch back and forth.
func TestDashboard_AViewThatGrowsOrShrinksSwitchesBetweenPageAndWindow(t *testing.T) {
	const n = 6000
	srv := e2e.StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) { c.Server.DemoTickets = n })
	db := e2e.NewSQLEditor(t, srv.URL)
	tab := newBrowserTab(t, 1280, 800)
	tab.open(srv.Base + "/?status=open&sort=-priority")
	open := db.Count("status = ?", "open")
	tab.waitFor("the open view sorted in the page", fmt.Sprintf(`!ticketstream.windowed() && ticketstream.state() === "live" && ticketstream.size() === %d`, open), 30*time.Second)

	db.Exec(`UPDATE tickets SET status = 'open' WHERE id IN (SELECT id FROM tickets ORDER BY id LIMIT 5700)`)
	grown := db.Count("status = ?", "open")
	tab.waitFor("a server window once the view grew", `ticketstream.windowed() && ticketstream.state() === "live" && ticketstream.size() === 200`, 60*time.Second)
	checkOrder(t, tab, idsInOrder(t, db, "status = 'open'", priorityRank+" DESC, id", 200), fmt.Sprintf("the window of %d open tickets", grown))

	db.Exec(`UPDATE tickets SET status = 'solved' WHERE id IN (SELECT id FROM tickets WHERE status = 'open' ORDER BY id LIMIT 5000)`)
	left := db.Count("status = ?", "open")
	tab.waitFor("the page sort once the view shrank", fmt.Sprintf(`!ticketstream.windowed() && ticketstream.state() === "live" && ticketstream.size() === %d`, left), 60*time.Second)
	checkOrder(t, tab, idsInOrder(t, db, "status = 'open'", priorityRank+" DESC, id", left), fmt.Sprintf("the %d open tickets left", left))
}
