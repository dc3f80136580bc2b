package wsgateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// windowView is a dashboard's window as the protocol builds it.
type windowView struct {
	rows   []domain.Ticket
	counts map[string]any
	msgs   int
}

// readWindow reads messages until cond holds of the window, applying each
// and checking that the window never holds more than size rows and that a
// removal names a row it holds.
func readWindow(t *testing.T, c *websocket.Conn, size int, v *windowView, what string, cond func(*windowView) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !cond(v) {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: read: %v (window %v)", what, err, ids(v.rows))
		}
		var m struct {
			Type    string         `json:"type"`
			Cursor  *string        `json:"cursor"`
			Counts  map[string]any `json:"counts"`
			Changes []struct {
				Op     string         `json:"op"`
				ID     int64          `json:"id"`
				Index  *int           `json:"index"`
				Ticket *domain.Ticket `json:"ticket"`
			} `json:"changes"`
		}
		if err := json.Unmarshal(data, &m); err != nil || m.Type != "changes" || m.Cursor != nil {
			t.Fatalf("not a window's changes message (%v): %.300s", err, data)
		}
		v.msgs++
		for _, op := range m.Changes {
			switch op.Op {
			case "clear":
				v.rows = v.rows[:0]
			case "remove":
				i := slices.IndexFunc(v.rows, func(r domain.Ticket) bool { return r.ID == op.ID })
				if i < 0 {
					t.Fatalf("told to remove ticket %d, not in the window", op.ID)
				}
				v.rows = slices.Delete(v.rows, i, i+1)
			case "upsert":
				if i := slices.IndexFunc(v.rows, func(r domain.Ticket) bool { return r.ID == op.Ticket.ID }); i >= 0 {
					v.rows = slices.Delete(v.rows, i, i+1)
				}
				if *op.Index > len(v.rows) {
					t.Fatalf("upsert at %d into %d rows", *op.Index, len(v.rows))
				}
				v.rows = slices.Insert(v.rows, *op.Index, *op.Ticket)
			default:
				t.Fatalf("unknown op %q", op.Op)
			}
			if len(v.rows) > size {
				t.Fatalf("the window holds %d rows, more than %d", len(v.rows), size)
			}
		}
		if m.Counts != nil {
			if v.counts == nil {
				v.counts = map[string]any{}
			}
			v.counts["total"] = m.Counts["total"]
		}
	}
}

func ids(rows []domain.Ticket) []int64 {
	var out []int64
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

// wantWindow is ORDER BY sort LIMIT size over the feed's tickets of q.
func wantWindow(feed *portstest.Feed, q domain.Query) []int64 {
	q.Limit, q.Window = q.Window, 0
	return ids(portstest.Select(feed.Tickets(), q))
}

func TestWindow_ASortedWindowStaysExactOverTheSocket(t *testing.T) {
	tickets := demodata.New(7).Tickets(2000)
	f := newFixture(t, tickets, wsgateway.Options{})
	query := "sort=-priority,created_at&window=6"
	q, err := domain.ParseQuery(mustValues(t, query+"&team=billing"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A billing token: the window is of billing's tickets, and nothing of
	// another team's reaches it.
	c := dial(t, f.url(query), "billing")
	var v windowView
	same := func(v *windowView) bool { return slices.Equal(ids(v.rows), wantWindow(f.feed, q)) && v.counts != nil }
	readWindow(t, c, 6, &v, "the first window", same)
	if v.counts["total"] == nil {
		t.Fatalf("the first message carries no counts")
	}
	top := v.rows[0]
	// The top row moves to the bottom of the order: it leaves, the next
	// slides in, and it stays out.
	moved := top
	moved.Priority, moved.UpdatedAt = domain.PriorityLow, time.Now().UTC().Truncate(time.Microsecond)
	f.feed.Put(moved)
	readWindow(t, c, 6, &v, "the row sliding in", same)
	// Bulk: 1,500 tickets of other teams change, then one of billing's
	// becomes the most urgent; only that reaches the window.
	var bulk []domain.Ticket
	for _, tk := range tickets {
		if tk.Team != "billing" && len(bulk) < 1500 {
			tk.Priority = domain.PriorityUrgent
			tk.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
			bulk = append(bulk, tk)
		}
	}
	f.feed.Put(bulk...)
	var billing domain.Ticket
	for _, tk := range tickets {
		if tk.Team == "billing" && !slices.Contains(ids(v.rows), tk.ID) {
			billing = tk
		}
	}
	billing.Priority, billing.CreatedAt = domain.PriorityUrgent, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	billing.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	f.feed.Put(billing)
	readWindow(t, c, 6, &v, "the new most urgent ticket at the top", func(v *windowView) bool {
		return same(v) && len(v.rows) > 0 && v.rows[0].ID == billing.ID
	})
	for _, r := range v.rows {
		if r.Team != "billing" {
			t.Fatalf("the billing window got ticket %d of team %s", r.ID, r.Team)
		}
	}
	// Deleting every row of the window refills it from beyond the edge.
	f.feed.Remove(ids(v.rows)...)
	readWindow(t, c, 6, &v, "the window refilled", same)
}

func TestWindow_RefusedWhereItCannotBeKept(t *testing.T) {
	f := newFixture(t, demodata.New(8).Tickets(20), wsgateway.Options{})
	for _, tc := range []struct{ query, reason string }{
		{"window=1001", "window"},
		{"window=5&limit=5", "window"},
		{"sort=bogus&window=5", "sort"},
	} {
		_, resp, err := websocket.Dial(context.Background(), f.url(tc.query), &websocket.DialOptions{
			Subprotocols: []string{wsgateway.Subprotocol, wsgateway.BearerPrefix + "admin"}})
		if err == nil || resp == nil || resp.StatusCode != 400 {
			t.Errorf("%s: dial error %v, response %v; want 400", tc.query, err, resp)
		}
	}
	// A subscribe message asking for a window with a cursor is refused
	// with 1008: a window always starts afresh.
	c := dial(t, f.url(""), "admin")
	_, _ = readSnapshot(t, c, 1)
	live := f.cursors.LiveCursorString(domain.LiveCursor{Filter: 1, Cluster: 1})
	msg := fmt.Sprintf(`{"type":"subscribe","query":"window=5&cursor=%s"}`, live)
	if err := c.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if got := websocket.CloseStatus(err); got != websocket.StatusPolicyViolation {
				t.Fatalf("closed with %v (%v), want 1008", got, err)
			}
			return
		}
	}
}

func mustValues(t *testing.T, query string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A whole filter's snapshot may come in the order the dashboard shows it,
// so that the first rows on screen are the right ones at once; live
// changes follow as for any subscription, and only a complete sorted
// snapshot resumes (an unfinished one starts over with resync).
func TestLive_ASortedSnapshotComesInItsOrder(t *testing.T) {
	tickets := demodata.New(9).Tickets(600)
	f := newFixture(t, tickets, wsgateway.Options{})
	query := "status=new,open,pending&sort=-priority,created_at"
	q, err := domain.ParseQuery(mustValues(t, query), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, f.url(query), "admin")
	rows, end := readSnapshot(t, c, 1)
	want := portstest.Select(f.feed.Tickets(), q)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		var got domain.Ticket
		if err := json.Unmarshal(rows[i], &got); err != nil || got.ID != want[i].ID {
			t.Fatalf("row %d is ticket %d, want %d (%v)", i, got.ID, want[i].ID, err)
		}
	}
	// Complete: it resumes like any cursor.
	c2 := dial(t, f.url(query+"&cursor="+end.Cursor), "admin")
	changed := want[0]
	changed.Subject, changed.UpdatedAt = "sorted and live", time.Now().UTC().Truncate(time.Microsecond)
	f.feed.Put(changed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := c2.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for the change on the resumed socket: %v", err)
		}
		if strings.Contains(string(data), `"type":"resync"`) || strings.Contains(string(data), `"type":"snapshot"`) {
			t.Fatalf("a complete sorted snapshot did not resume: %.200s", data)
		}
		if strings.Contains(string(data), "sorted and live") {
			break
		}
	}
	// Unfinished: a cursor of its first message resyncs.
	c3 := dial(t, f.url(query), "admin")
	_, first, err := c3.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m serverMessage
	if err := json.Unmarshal(first, &m); err != nil || m.Type != "snapshot" {
		t.Fatalf("first message %.100s", first)
	}
	c3.CloseNow()
	c4 := dial(t, f.url(query+"&cursor="+m.Cursor), "admin")
	_, data, err := c4.Read(ctx)
	if err != nil || !strings.Contains(string(data), `"type":"resync"`) {
		t.Fatalf("an unfinished sorted snapshot's cursor: %.200s, %v; want resync", data, err)
	}
}
