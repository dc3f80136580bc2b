package wsgateway_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

// A resume cursor the server did not hand out as it stands — altered,
// sealed with another key, of the old unsealed format, of another database,
// out of range, past the feed, of another filter — is never obeyed: the
// socket answers resync, then a full fresh snapshot of the filter. Each
// forgery below claims a finished snapshot at the current position, which,
// if obeyed, would send nothing.
func TestCursor_ForgedResumeCursorsResyncToAFullSnapshot(t *testing.T) {
	tickets := demodata.New(41).Tickets(300)
	f := newFixture(t, tickets, wsgateway.Options{})
	ctx := context.Background()
	open := domain.Query{Statuses: []domain.Status{domain.StatusOpen}}

	// A genuine cursor of status=open, taken at the end of its snapshot.
	view := &wsclient.View{}
	c := f.connect(t, "status=open", "admin", view)
	if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	c.Close()
	genuine, err := f.cursors.OpenLiveCursor(view.Cursor)
	if err != nil || !genuine.SnapshotDone || genuine.Cluster != 1 {
		t.Fatalf("the server's cursor %+v (%v): want a finished snapshot of database 1", genuine, err)
	}
	other, _ := domain.NewCursorSealer([]byte("another deployment's cursor key"))
	forge := func(edit func(*domain.LiveCursor)) string {
		lc := genuine
		edit(&lc)
		return f.cursors.LiveCursorString(lc)
	}
	horizon, _ := f.feed.Horizon(ctx)

	tests := []struct {
		name, cursor, reason string
	}{
		{"altered byte", alterByte(view.Cursor, 20), "not issued by this server"},
		{"altered MAC", alterByte(view.Cursor, 75), "not issued by this server"},
		{"another key", other.LiveCursorString(genuine), "not issued by this server"},
		{"another key, snapshot cursor", other.CursorString(tickets[5].Cursor()), "not issued by this server"},
		{"old unsealed format", handMadeOldCursor("status=open"), "older version"},
		{"another database", forge(func(c *domain.LiveCursor) { c.Cluster = 99 }), app.ResyncOtherDatabase},
		{"position 2^63", forge(func(c *domain.LiveCursor) { c.Watermark.Xmax, c.Live.Xmax = 1<<63, 1<<63 }), app.ResyncOutOfRange},
		{"past the feed", forge(func(c *domain.LiveCursor) { c.Live.Xmax = horizon.Xmax + 1000 }), app.ResyncAhead},
		{"another filter", forge(func(c *domain.LiveCursor) {
			c.Filter = domain.FilterHash(domain.Query{Statuses: []domain.Status{domain.StatusPending}})
		}), "another filter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			view := &wsclient.View{Cursor: tc.cursor}
			c := f.connect(t, "status=open", "admin", view)
			defer c.Close()
			first, err := c.Next(ctx)
			if err != nil {
				t.Fatalf("first message: %v", err)
			}
			if first.Type != "resync" || !strings.Contains(first.Reason, tc.reason) {
				t.Fatalf("first message %s %q, want a resync saying %q", first.Type, first.Reason, tc.reason)
			}
			if first.Cursor == tc.cursor {
				t.Fatal("the resync hands the refused cursor back")
			}
			if lc, err := f.cursors.OpenLiveCursor(first.Cursor); err != nil || lc.SnapshotDone || lc.Cluster != 1 || !lc.Snapshot.IsZero() {
				t.Fatalf("the resync's cursor %+v (%v) does not start a fresh snapshot", lc, err)
			}
			if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
				t.Fatal(err)
			}
			if view.Counts.Resyncs != 1 {
				t.Fatalf("%d resyncs, want 1", view.Counts.Resyncs)
			}
			expectView(t, view, f.feed, open)
		})
	}

	// The genuine cursor still resumes: nothing to send, no resync.
	view = &wsclient.View{Cursor: view.Cursor, Tickets: map[int64]domain.Ticket{}}
	c = f.connect(t, "status=open", "admin", view)
	m, err := c.Next(ctx)
	if err != nil || m.Type == "resync" || m.Type == "snapshot" {
		t.Fatalf("resuming the genuine cursor: %+v, %v; want no resync and no snapshot", m, err)
	}
	c.Close()
}

// The filter a cursor belongs to is a set: listing its values in another
// order resumes it rather than resyncing to a needless full snapshot.
func TestCursor_ResumesAFilterWithItsValuesReordered(t *testing.T) {
	tickets := demodata.New(42).Tickets(200)
	f := newFixture(t, tickets, wsgateway.Options{})
	ctx := context.Background()
	view := &wsclient.View{}
	c := f.connect(t, "status=open,pending&team=billing,support", "admin", view)
	if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	c.Close()
	changed := touch(tickets[7], "changed while away")
	changed.Status, changed.Team = domain.StatusPending, "support"
	f.feed.Put(changed)

	c = f.connect(t, "team=support,billing&status=pending&status=open,pending", "admin", view)
	q := domain.Query{Statuses: []domain.Status{domain.StatusOpen, domain.StatusPending}, Teams: []string{"billing", "support"}}
	// The resume's counts come once its view, restored from the database,
	// describes what the dashboard holds.
	if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return viewMatches(v, f.feed, q) && v.CheckTotals() == nil }); err != nil {
		t.Fatalf("after resuming with the values reordered: %v", err)
	}
	if view.Counts.Resyncs != 0 {
		t.Fatalf("%d resyncs: the reordered filter was taken for another", view.Counts.Resyncs)
	}
	expectView(t, view, f.feed, q)
	c.Close()
}

// A cursor parameter that never was a cursor is refused before the
// upgrade, as any bad parameter is.
func TestCursor_GarbageIsRefusedAtTheUpgrade(t *testing.T) {
	f := newFixture(t, demodata.New(43).Tickets(10), wsgateway.Options{})
	_, err := wsclient.Dial(context.Background(), f.base(), "cursor=not-a-cursor", "admin", &wsclient.View{})
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("dial with a garbage cursor: %v, want HTTP 400", err)
	}
}

// alterByte flips one bit of byte i of a cursor's binary form.
func alterByte(cursor string, i int) string {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		panic(err)
	}
	b[i] ^= 0x10
	return base64.RawURLEncoding.EncodeToString(b)
}

// handMadeOldCursor builds what anyone could build from the documentation
// of the unsealed live cursor (version 2): the filter hash FNV-32a of the
// filter's query text, every position 0, the snapshot marked done.
func handMadeOldCursor(filter string) string {
	b := make([]byte, 58)
	b[0], b[1] = 2, 1
	h := fnv.New32a()
	h.Write([]byte(filter))
	binary.BigEndian.PutUint32(b[2:], h.Sum32())
	return base64.RawURLEncoding.EncodeToString(b)
}

// A forged cursor in a subscribe message, after the upgrade, is refused
// the same way: resync, then the full snapshot of the new subscription.
func TestCursor_ForgedCursorInASubscribeMessageResyncs(t *testing.T) {
	tickets := demodata.New(44).Tickets(120)
	f := newFixture(t, tickets, wsgateway.Options{})
	ctx := context.Background()
	view := &wsclient.View{}
	c := f.connect(t, "status=open", "admin", view)
	if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	lc, err := f.cursors.OpenLiveCursor(view.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := domain.NewCursorSealer([]byte("another deployment's cursor key"))
	msg := `{"type":"subscribe","query":"status=open&cursor=` + other.LiveCursorString(lc) + `"}`
	if err := c.Conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Sub < 2 {
			continue
		}
		if m.Type != "resync" || !strings.Contains(m.Reason, "not issued by this server") {
			t.Fatalf("subscription 2 began with %s %q, want a resync", m.Type, m.Reason)
		}
		break
	}
	if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	expectView(t, view, f.feed, domain.Query{Statuses: []domain.Status{domain.StatusOpen}})
	c.Close()
}
