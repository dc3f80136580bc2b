package browser

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/dashboard"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/e2e"
)

// The dashboard as a queue: column headers that sort (in the page, or as a
// server window past 5,000 tickets), rows that stay put under a reader who
// scrolled down, and SLA badges.

// priorityRank orders priorities by urgency in SQL, as the server does.
const priorityRank = `CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END`

// idsInOrder returns the ids of the tickets of where in order, at most limit.
func idsInOrder(t *testing.T, db *e2e.SQLEditor, where, order string, limit int) []int64 {
	t.Helper()
	var ids []int64
	if err := db.Store.Gorm().Raw(fmt.Sprintf("SELECT id FROM tickets WHERE %s ORDER BY %s LIMIT %d", where, order, limit)).Scan(&ids).Error; err != nil {
		t.Fatal(err)
	}
	return ids
}

// checkOrder checks that the page holds exactly want, in that order.
func checkOrder(t *testing.T, tab *browserTab, want []int64, what string) {
	t.Helper()
	got := eval[[]int64](tab, `ticketstream.order()`)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		n := min(len(got), 10)
		t.Fatalf("%s: the page holds %d tickets in the order %v…, want %d in %v…", what, len(got), got[:n], len(want), want[:min(len(want), 10)])
	}
}

// headerState returns the aria-sort of each sortable header that has one,
// and the arrows shown.
func headerState(tab *browserTab) string {
	return eval[string](tab, `[...document.querySelectorAll("#tickets thead button[data-sort]")].map(b =>
		b.dataset.sort + ":" + (b.closest("th").getAttribute("aria-sort") ?? "-") + b.querySelector(".arrow").textContent).join(" ")`)
}

func TestDashboard_ColumnHeadersSortInThePage(t *testing.T) {
	srv := e2e.StartServer(t, gormstore.SQLite, nil)
	db := e2e.NewSQLEditor(t, srv.URL)
	tab := newBrowserTab(t, 1280, 800)
	tab.open(srv.Base + "/?status=open")
	open := db.Count("status = ?", "open")
	tab.checkShows(open)
	if got := headerState(tab); !strings.Contains(got, "updated_at:descending▼") {
		t.Fatalf("the default order is not shown on the Updated header: %s", got)
	}

	tab.do(chromedp.Click(chromedp.CSS(`#tickets thead button[data-sort="priority"]`)))
	tab.waitFor("the priority sort in the address", `location.search === "?status=open&sort=-priority"`, 10*time.Second)
	if eval[bool](tab, `ticketstream.windowed()`) {
		t.Fatal("a view of fewer than 5,000 tickets became a server window")
	}
	checkOrder(t, tab, idsInOrder(t, db, "status = 'open'", priorityRank+" DESC, id", open), "by priority, descending")
	if got := headerState(tab); !strings.Contains(got, "priority:descending▼") || strings.Count(got, "ending") != 1 {
		t.Fatalf("headers after sorting by priority: %s", got)
	}
	tab.waitFor("the caption to say the order", `document.getElementById("table-caption").textContent.includes("priority, descending")`, 5*time.Second)

	// Again: reversed.
	tab.do(chromedp.Click(chromedp.CSS(`#tickets thead button[data-sort="priority"]`)))
	tab.waitFor("the reversed sort", `location.search === "?status=open&sort=priority"`, 10*time.Second)
	checkOrder(t, tab, idsInOrder(t, db, "status = 'open'", priorityRank+", id", open), "by priority, ascending")

	// From the keyboard: the headers are buttons.
	tab.do(chromedp.Focus(`#tickets thead button[data-sort="created_at"]`), chromedp.KeyEvent(kb.Enter))
	tab.waitFor("the age sort", `location.search === "?status=open&sort=created_at"`, 10*time.Second)
	checkOrder(t, tab, idsInOrder(t, db, "status = 'open'", "created_at, id", open), "by age")
	tab.do(chromedp.Focus(`#tickets thead button[data-sort="assignee"]`), chromedp.KeyEvent(" "))
	tab.waitFor("the assignee sort", `location.search === "?status=open&sort=assignee"`, 10*time.Second)
	checkOrder(t, tab, idsInOrder(t, db, "status = 'open'", "assignee, id", open), "by assignee")

	// A live change moves its row into its place.
	last := idsInOrder(t, db, "status = 'open'", "assignee DESC, id DESC", 1)[0]
	db.Exec(`UPDATE tickets SET assignee = '', updated_at = ? WHERE id = ?`, db.Now(), last)
	tab.waitFor("the unassigned ticket first", fmt.Sprintf(`ticketstream.order().indexOf(%d) < ticketstream.order().length - 1 && ticketstream.ticket(%d).assignee === ""`, last, last), liveWithin)
	checkOrder(t, tab, idsInOrder(t, db, "status = 'open'", "assignee, id", open), "by assignee after a change")

	// The address keeps the sort: a reload shows it again.
	tab.open(srv.Base + "/?status=open&sort=-team")
	tab.waitFor("the page sort after the window that measured it", `!ticketstream.windowed() && ticketstream.state() === "live" && ticketstream.size() === `+fmt.Sprint(open), 30*time.Second)
	checkOrder(t, tab, idsInOrder(t, db, "status = 'open'", "team DESC, id", open), "a linked sort")
	if got := headerState(tab); !strings.Contains(got, "team:descending▼") {
		t.Fatalf("headers of a linked sort: %s", got)
	}
}

func TestDashboard_ALargeViewSortsAsAServerWindow(t *testing.T) {
	const n = 6000
	srv := e2e.StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) { c.Server.DemoTickets = n })
	db := e2e.NewSQLEditor(t, srv.URL)
	tab := newBrowserTab(t, 1280, 800)
	tab.open(srv.Base + "/")
	tab.checkShows(n)

	tab.do(chromedp.Click(chromedp.CSS(`#tickets thead button[data-sort="priority"]`)))
	tab.waitFor("a server window", `location.search === "?sort=-priority" && ticketstream.windowed() && ticketstream.state() === "live" && ticketstream.size() === 200`, 30*time.Second)
	checkOrder(t, tab, idsInOrder(t, db, "1 = 1", priorityRank+" DESC, id", 200), "the window by priority")
	tab.waitFor("the window said so", `document.getElementById("window-note").textContent.includes("first 200 of 6,000 by priority, descending") && !document.getElementById("window-note").hidden`, 10*time.Second)
	tab.screenshot("dashboard-window.png")
	if n := eval[int](tab, `document.querySelectorAll("#rows tr.flash-new, #rows tr.flash-changed").length`); n != 0 {
		t.Errorf("%d rows of the window's first fill are highlighted as news", n)
	}

	// The non-urgent ticket with the lowest id made urgent enters the
	// window near its top; the window stays 200 rows, exact.
	raised := idsInOrder(t, db, "priority <> 'urgent'", "id", 1)[0]
	db.Exec(`UPDATE tickets SET priority = 'urgent', updated_at = ? WHERE id = ?`, db.Now(), raised)
	tab.waitFor("the raised ticket in the window", fmt.Sprintf(`ticketstream.order().includes(%d) && ticketstream.size() === 200`, raised), liveWithin)
	checkOrder(t, tab, idsInOrder(t, db, "1 = 1", priorityRank+" DESC, id", 200), "the window after a change")
	if !eval[bool](tab, fmt.Sprintf(`document.querySelector('#rows tr[data-id="%d"]')?.classList.contains("flash-new") ?? true`, raised)) {
		t.Error("the ticket that entered the window is not highlighted")
	}

	// Reversed: a new window, still exact.
	tab.do(chromedp.Click(chromedp.CSS(`#tickets thead button[data-sort="priority"]`)))
	tab.waitFor("the reversed window", `location.search === "?sort=priority" && ticketstream.windowed() && ticketstream.state() === "live" && ticketstream.order()[0] !== `+fmt.Sprint(raised), 30*time.Second)
	checkOrder(t, tab, idsInOrder(t, db, "1 = 1", priorityRank+", id", 200), "the window by priority, ascending")

	// A filter small enough again: sorted in the page, whole.
	tab.do(chromedp.Click(chromedp.CSS(`#counts button[data-status="pending"]`)))
	pending := db.Count("status = ?", "pending")
	tab.waitFor("the pending view sorted in the page", `location.search === "?status=pending&sort=priority" && !ticketstream.windowed() && ticketstream.state() === "live" && ticketstream.size() === `+fmt.Sprint(pending), 30*time.Second)
	checkOrder(t, tab, idsInOrder(t, db, "status = 'pending'", priorityRank+", id", pending), "a small view by priority")
	if !eval[bool](tab, `document.getElementById("window-note").hidden`) {
		t.Fatal("the window note stays on a view held whole")
	}
}

func TestDashboard_RowsStayPutWhileScrolledAndNewOnesAreAnnounced(t *testing.T) {
	srv := e2e.StartServer(t, gormstore.SQLite, nil)
	db := e2e.NewSQLEditor(t, srv.URL)
	tab := newBrowserTab(t, 1280, 800)
	tab.open(srv.Base + "/")
	tab.checkShows(db.Count("1 = 1"))

	// Scrolled down: the 40th row is somewhere in view.
	watched := eval[int64](tab, `ticketstream.order()[40]`)
	eval[int](tab, `(document.getElementById("table-wrap").scrollTop = 40 * document.querySelector("#rows tr.row").getBoundingClientRect().height, 0)`)
	tab.waitFor("the watched row in view", `!!document.querySelector('`+rowSelector(watched)+`')`, 5*time.Second)
	top := func() float64 {
		return eval[float64](tab, `document.querySelector('`+rowSelector(watched)+`').getBoundingClientRect().top`)
	}
	before := top()

	for i := range 3 {
		db.Insert(int64(900_100+i), "billing", "new", fmt.Sprintf("Arrived while scrolled %d", i))
	}
	tab.waitFor("the 3 new rows held", `[900100, 900101, 900102].every(id => ticketstream.ticket(id))`, liveWithin)
	tab.waitFor("the notice", `!document.getElementById("new-rows").hidden && document.getElementById("new-rows").textContent.startsWith("3 new")`, 5*time.Second)
	if after := top(); math.Abs(after-before) > 1 {
		t.Fatalf("the row under the reader's eyes moved from %.0f to %.0f px", before, after)
	}
	if live := eval[string](tab, `document.getElementById("new-rows").parentElement.getAttribute("aria-live")`); live != "polite" {
		t.Errorf("the notice is not announced: aria-live %q", live)
	}

	// n (or a click) goes to the top, where the new rows are.
	tab.do(chromedp.Focus("#table-wrap"), chromedp.KeyEvent("n"))
	tab.waitFor("the top and the notice gone", `document.getElementById("table-wrap").scrollTop === 0 && document.getElementById("new-rows").hidden`, 5*time.Second)
	tab.waitFor("the new rows in view", `document.querySelector("#rows tr.row")?.dataset.id === "900102"`, 5*time.Second)

	// At the top new rows simply appear.
	db.Insert(900_200, "billing", "new", "Arrived at the top")
	tab.waitFor("the row at the top", `document.querySelector("#rows tr.row")?.dataset.id === "900200"`, liveWithin)
	if !eval[bool](tab, `document.getElementById("new-rows").hidden && document.getElementById("table-wrap").scrollTop === 0`) {
		t.Fatal("at the top, a new row moved the view or raised the notice")
	}

	// The notice as a button.
	eval[int](tab, `(document.getElementById("table-wrap").scrollTop = 900, 0)`)
	tab.waitFor("scrolled", `document.getElementById("table-wrap").scrollTop > 0`, 5*time.Second)
	db.Insert(900_201, "billing", "new", "Arrived while scrolled again")
	tab.waitFor("the notice again", `document.getElementById("new-rows").textContent.startsWith("1 new")`, liveWithin)
	tab.do(chromedp.Click(chromedp.CSS("#new-rows")))
	tab.waitFor("the top after a click", `document.getElementById("table-wrap").scrollTop === 0 && document.getElementById("new-rows").hidden && document.querySelector("#rows tr.row")?.dataset.id === "900201"`, 5*time.Second)
}

func TestDashboard_SLABadges(t *testing.T) {
	sla, err := dashboard.ParseSLA("urgent=1h/4h,normal=1d/3d")
	if err != nil {
		t.Fatal(err)
	}
	srv := e2e.StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) { c.Server.Dashboard.SLA = sla })
	db := e2e.NewSQLEditor(t, srv.URL)
	ago := func(d time.Duration) int64 { return time.Now().Add(-d).UnixMicro() } // the SQLite schema keeps microseconds
	insert := func(id int64, status, priority string, created time.Duration) {
		db.Exec(`INSERT INTO tickets (id, team, subject, status, priority, requester, created_at, updated_at)
			VALUES (?, 'sla', 'SLA case', ?, ?, 'someone@example.com', ?, ?)`, id, status, priority, ago(created), db.Now())
	}
	insert(910_001, "new", "urgent", 2*time.Hour)                  // first response (1h) overdue by 1h
	insert(910_002, "new", "urgent", 10*time.Minute)               // first response (1h) due in 50m
	insert(910_003, "open", "normal", 2*24*time.Hour+10*time.Hour) // resolution (3d) due in 14h: its last quarter
	insert(910_004, "solved", "urgent", 10*time.Hour)              // solved: no badge

	tab := newBrowserTab(t, 1280, 800)
	tab.open(srv.Base + "/?team=sla")
	tab.checkShows(4)
	badge := func(id int64) map[string]string {
		return eval[map[string]string](tab, `(() => {
			const b = document.querySelector('`+rowSelector(id)+` .col-sla .badge');
			return b ? {text: b.textContent, state: b.dataset.sla, title: b.title, colour: getComputedStyle(b).backgroundColor} : {};
		})()`)
	}
	tab.waitFor("the badges", `!!document.querySelector('`+rowSelector(910_001)+` .col-sla .badge')`, 10*time.Second)
	for _, tc := range []struct {
		id          int64
		text, state string
	}{
		// The clock moves between the insert and the check: 49m or 50m.
		{910_001, `^First response: overdue 1h$`, "overdue"},
		{910_002, `^First response: (49|50)m left$`, "ok"},
		{910_003, `^Resolution: (13|14)h left$`, "soon"},
	} {
		b := badge(tc.id)
		if b["state"] != tc.state || !regexp.MustCompile(tc.text).MatchString(b["text"]) {
			t.Errorf("ticket %d: badge %v, want %s (%s)", tc.id, b, tc.text, tc.state)
		}
	}
	if b := badge(910_001); !strings.Contains(b["text"], "overdue") || b["colour"] == badge(910_002)["colour"] {
		t.Errorf("overdue must say so in words and look different: %v", b)
	}
	if b := badge(910_004); len(b) != 0 {
		t.Errorf("a solved ticket has a badge: %v", b)
	}
}
