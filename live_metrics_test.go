package ticketstream_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// metric returns the value of a metric in /metrics, or -1 if absent.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, body := get(t, base+"/metrics", "")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: HTTP %d", resp.StatusCode)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A writing transaction left open holds back live delivery; the server
// says so in ticketstream_live_stalled_seconds, and delivers once it ends.
func TestServer_StalledDeliveryIsAMetric(t *testing.T) {
	t.Parallel()
	srv := startServer(t, gormstore.Postgres, func(c *ticketstream.Config) { c.Live.StallWarning = time.Second })
	ctx := context.Background()
	view := &wsclient.View{}
	c, err := wsclient.Dial(ctx, "ws"+srv.base[len("http"):], "", "", view)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Conn.CloseNow()
	if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	if v := metric(t, srv.base, "ticketstream_live_subscribers"); v != 1 {
		t.Fatalf("ticketstream_live_subscribers = %v, want 1", v)
	}

	conn, err := pgx.Connect(ctx, srv.server.App.Store.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET subject = 'held open' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	portstest.WaitFor(t, 15*time.Second, "the stall to show in /metrics", func() bool {
		return metric(t, srv.base, "ticketstream_live_stalled_seconds") >= 1
	})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, 10*time.Second, func(v *wsclient.View) bool { return v.Tickets[1].Subject == "held open" }); err != nil {
		t.Fatalf("the change held back was not delivered once the transaction ended: %v", err)
	}
	portstest.WaitFor(t, 15*time.Second, "the stall to clear", func() bool {
		return metric(t, srv.base, "ticketstream_live_stalled_seconds") == 0
	})
	for _, name := range []string{"ticketstream_live_changes_total", "ticketstream_live_deliveries_total", "ticketstream_websocket_connections", "ticketstream_pool_gets_total"} {
		if v := metric(t, srv.base, name); v < 1 {
			t.Fatalf("%s = %v after a stream and a change, want at least 1", name, v)
		}
	}
}
