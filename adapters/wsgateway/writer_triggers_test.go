package wsgateway_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

// execSQL runs sql on db and returns the rows it affected; an error fails t.
func execSQL(t *testing.T, db *gorm.DB, sql string, args ...any) int64 {
	t.Helper()
	res := db.Exec(sql, args...)
	if res.Error != nil {
		t.Fatalf("%s: %v", sql, res.Error)
	}
	return res.RowsAffected
}

// installFreeze gives db's tickets a writer's trigger, zzz_freeze, that
// fires after the change feed's and cancels any move to the team "frozen".
func installFreeze(t *testing.T, db *gorm.DB) {
	t.Helper()
	execSQL(t, db, `CREATE FUNCTION zzz_freeze() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.team = 'frozen' THEN RETURN NULL; END IF;
    RETURN NEW;
END $$`)
	execSQL(t, db, `CREATE TRIGGER zzz_freeze BEFORE UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION zzz_freeze()`)
}

// A help desk's database has BEFORE UPDATE triggers of its own, and the
// feed's must see the row they leave. Three of them, on a real database:
//
//   - route_by_subject (fires before the feed's triggers) moves a ticket to
//     sales when its subject says so: a departure from billing that no
//     statement named;
//   - updated_at_touch (fires before them too, but after where they were
//     named until migration 00010) stamps updated_at on every update, so
//     an UPDATE that sets a column to its own value still changes the row;
//   - zzz_freeze (fires after them) cancels any move to the team "frozen":
//     the feed's departure trigger has by then recorded a departure that
//     never happened.
//
// A billing dashboard that resumes after all of these loses the routed
// ticket, keeps the ones whose move was cancelled — with the later edit of
// one of them — and has the touched ticket's new updated_at: saying what
// it holds, and not saying it, when the server reads its view back and
// asks the departures.
func TestResume_AWritersOwnTriggersOnARealDatabase(t *testing.T) {
	for _, held := range []bool{true, false} {
		t.Run(map[bool]string{true: "held", false: "without-held"}[held], func(t *testing.T) {
			t.Parallel()
			resumeWritersOwnTriggers(t, held)
		})
	}
}

func resumeWritersOwnTriggers(t *testing.T, held bool) {
	tickets := demodata.New(41).Tickets(12)
	for i := range tickets {
		tickets[i].Team = []string{"billing", "sales"}[i%2]
	}
	routed, frozen, frozenThenEdited, touched := tickets[0], tickets[2], tickets[4], tickets[6] // billing
	store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
	ctx := context.Background()
	g := store.Gorm()
	exec := func(sql string, args ...any) int64 { t.Helper(); return execSQL(t, g, sql, args...) }
	exec(`CREATE FUNCTION route_by_subject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.subject LIKE 'for sales:%' THEN NEW.team := 'sales'; END IF;
    RETURN NEW;
END $$`)
	exec(`CREATE TRIGGER route_by_subject BEFORE UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION route_by_subject()`)
	exec(`CREATE FUNCTION updated_at_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END $$`)
	exec(`CREATE TRIGGER updated_at_touch BEFORE UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION updated_at_touch()`)
	installFreeze(t, g)
	waitDispatched(t, store, hub)

	view := &wsclient.View{}
	c := dialView(t, base, "billing", view)
	if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	if len(view.Tickets) != 6 {
		t.Fatalf("the billing dashboard holds %d tickets, want the 6 of billing", len(view.Tickets))
	}
	was := view.Tickets[touched.ID].UpdatedAt
	c.Conn.CloseNow()
	start := hub.Position()

	// While it is away.
	exec(`UPDATE tickets SET subject = 'for sales: a refund' WHERE id = ?`, routed.ID)
	for _, id := range []int64{frozen.ID, frozenThenEdited.ID} {
		if n := exec(`UPDATE tickets SET team = 'frozen' WHERE id = ?`, id); n != 0 {
			t.Fatalf("zzz_freeze let ticket %d move to frozen", id)
		}
	}
	exec(`UPDATE tickets SET subject = 'edited after the freeze' WHERE id = ?`, frozenThenEdited.ID)
	exec(`UPDATE tickets SET subject = subject WHERE id = ?`, touched.ID)
	waitDispatched(t, store, hub)

	left, err := store.Departed(ctx, start, []string{"billing"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(left, routed.ID) {
		t.Fatalf("departures from billing = %v: the ticket route_by_subject moved to sales is not among them", left)
	}

	var opts []wsclient.Option
	if !held {
		opts = append(opts, wsclient.WithoutHeld())
	}
	c, err = wsclient.Dial(ctx, base, "", "billing", view, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Conn.CloseNow()
	if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool {
		return v.SnapshotDone && v.Tickets[frozenThenEdited.ID].Subject == "edited after the freeze"
	}); err != nil {
		t.Fatalf("the resumed dashboard never got the edit after the cancelled move: %v", err)
	}
	// A change after the resume marks the end of what it may hear.
	marker := tickets[8]
	exec(`UPDATE tickets SET subject = 'marker' WHERE id = ?`, marker.ID)
	if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.Tickets[marker.ID].Subject == "marker" }); err != nil {
		t.Fatal(err)
	}
	if _, ok := view.Tickets[routed.ID]; ok {
		t.Errorf("the resumed view still shows ticket %d, which route_by_subject moved to sales", routed.ID)
	}
	for _, id := range []int64{frozen.ID, frozenThenEdited.ID} {
		if tk, ok := view.Tickets[id]; !ok || tk.Team != "billing" {
			t.Errorf("ticket %d stayed in billing (its move was cancelled), but the resumed view has %+v, %v", id, tk, ok)
		}
	}
	if now := view.Tickets[touched.ID].UpdatedAt; !now.After(was) {
		t.Errorf("ticket %d was touched by updated_at_touch while the dashboard was away: the view has updated_at %v, want after %v", touched.ID, now, was)
	}
	if len(view.Tickets) != 5 {
		t.Errorf("the resumed view holds %d tickets, want the 5 still in billing", len(view.Tickets))
	}
	c.Close()
}

// An UPDATE that would give a billing ticket a sales ticket's id and move
// it, cancelled by the writer's own trigger (sorting after the feed's),
// records its departure under the billing ticket's id: were it recorded
// under the id the row was to take, it would name the sales ticket and a
// team it never had, and hide the sales ticket's real departure later in
// the same transaction — a sales dashboard that resumes would keep it for
// good, and a billing one would hear of it.
func TestResume_ACancelledMoveThatChangesTheIdNamesNoOtherTicket(t *testing.T) {
	for _, then := range []string{"delete", "move"} {
		t.Run(then, func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(77).Tickets(12)
			for i := range tickets {
				tickets[i].Team = []string{"billing", "sales"}[i%2]
			}
			b, s := tickets[0], tickets[1] // billing, sales
			store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
			ctx := context.Background()
			g := store.Gorm()
			installFreeze(t, g)
			waitDispatched(t, store, hub)

			views := map[string]*wsclient.View{"sales": {}, "billing": {}}
			for team, view := range views {
				c := dialView(t, base, team, view)
				if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
					t.Fatal(err)
				}
				c.Conn.CloseNow()
			}
			if _, ok := views["sales"].Tickets[s.ID]; !ok {
				t.Fatalf("the sales dashboard lacks sales ticket %d", s.ID)
			}

			err := g.Transaction(func(tx *gorm.DB) error {
				if then == "move" { // written by the transaction already
					execSQL(t, tx, `UPDATE tickets SET subject = 'touched' WHERE id = ?`, s.ID)
				}
				if n := execSQL(t, tx, `UPDATE tickets SET id = ?, team = 'frozen' WHERE id = ?`, s.ID, b.ID); n != 0 {
					t.Fatalf("zzz_freeze let the update through (%d rows)", n)
				}
				if then == "delete" {
					execSQL(t, tx, `DELETE FROM tickets WHERE id = ?`, s.ID)
				} else {
					execSQL(t, tx, `UPDATE tickets SET team = 'security' WHERE id = ?`, s.ID)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			waitDispatched(t, store, hub)

			for team, marker := range map[string]domain.Ticket{"sales": tickets[3], "billing": tickets[2]} {
				view := views[team]
				c, err := wsclient.Dial(ctx, base, "", team, view, wsclient.WithoutHeld())
				if err != nil {
					t.Fatal(err)
				}
				heard := map[int64]string{}
				deadline, cancel := context.WithTimeout(ctx, 20*time.Second)
				next := func(until func() bool) {
					t.Helper()
					for !until() {
						m, err := c.Next(deadline)
						if err != nil {
							t.Fatalf("%s: read: %v", team, err)
						}
						if m.Type == "resync" {
							t.Fatalf("%s: a resume within the retained history was answered with resync", team)
						}
						for _, ch := range m.Changes {
							heard[ch.ID] = ch.Op
						}
					}
				}
				next(func() bool { return view.SnapshotDone })
				// A change after the resume marks the end of what it may hear.
				execSQL(t, g, `UPDATE tickets SET subject = ? WHERE id = ?`, "marker "+team, marker.ID)
				next(func() bool { return view.Tickets[marker.ID].Subject == "marker "+team })
				cancel()
				c.Close()
				if _, ok := view.Tickets[s.ID]; ok && team == "sales" {
					t.Errorf("ticket %d left sales (%s) while the sales dashboard was away; the resumed view still has it", s.ID, then)
				}
				if op, ok := heard[s.ID]; ok && team == "billing" {
					t.Errorf("the billing dashboard heard %q of sales ticket %d, never in billing", op, s.ID)
				}
			}
		})
	}
}

// A billing ticket moved to sales by an UPDATE that also renumbers it left
// billing under both ids: under the new one, when a billing ticket held it
// before (renumbered first, in the same transaction or an earlier one), and
// under the old one, when a sales ticket takes it later. A billing
// dashboard that resumes without saying what it holds must drop the id the
// database now has in sales, in each case.
func TestResume_ARenumberedMoveLeftItsTeamUnderEitherId(t *testing.T) {
	for _, mode := range []string{"one transaction", "two commits", "old id reused"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(91).Tickets(12)
			for i := range tickets {
				tickets[i].Team = []string{"billing", "sales"}[i%2]
			}
			moved, renumbered := tickets[0], tickets[2] // both billing
			store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
			ctx := context.Background()
			g := store.Gorm()
			waitDispatched(t, store, hub)
			view := &wsclient.View{}
			c := dialView(t, base, "billing", view)
			if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
				t.Fatal(err)
			}
			c.Conn.CloseNow()
			const free = 987654321
			renumber := func(tx *gorm.DB) { execSQL(t, tx, `UPDATE tickets SET id = ? WHERE id = ?`, free, renumbered.ID) }
			moveOnto := func(tx *gorm.DB) {
				execSQL(t, tx, `UPDATE tickets SET id = ?, team = 'sales' WHERE id = ?`, renumbered.ID, moved.ID)
			}
			gone := renumbered.ID // the id billing holds that is in sales now
			switch mode {
			case "one transaction":
				if err := g.Transaction(func(tx *gorm.DB) error { renumber(tx); moveOnto(tx); return nil }); err != nil {
					t.Fatal(err)
				}
			case "two commits":
				renumber(g)
				moveOnto(g)
			case "old id reused":
				execSQL(t, g, `UPDATE tickets SET id = ?, team = 'sales' WHERE id = ?`, free, moved.ID)
				execSQL(t, g, `INSERT INTO tickets (id, team, subject, status, priority, requester) SELECT ?, 'sales', subject, status, priority, requester FROM tickets WHERE id = ?`, moved.ID, free)
				gone = moved.ID
			}
			waitDispatched(t, store, hub)
			var team string
			if err := g.Raw(`SELECT team FROM tickets WHERE id = ?`, gone).Scan(&team).Error; err != nil || team != "sales" {
				t.Fatalf("ticket %d is in %q (%v), want sales", gone, team, err)
			}
			c, err := wsclient.Dial(ctx, base, "", "billing", view, wsclient.WithoutHeld())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
				t.Fatal(err)
			}
			marker := tickets[4]
			execSQL(t, g, `UPDATE tickets SET subject = 'marker' WHERE id = ?`, marker.ID)
			if err := c.WaitFor(ctx, 20*time.Second, func(v *wsclient.View) bool { return v.Tickets[marker.ID].Subject == "marker" }); err != nil {
				t.Fatal(err)
			}
			if tk, ok := view.Tickets[gone]; ok {
				t.Errorf("the resumed billing dashboard still shows ticket %d (team %q); the database has it in sales", gone, tk.Team)
			}
		})
	}
}
