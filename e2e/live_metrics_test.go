package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// metric returns the value of a metric in /metrics, or -1 if absent.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, body := Get(t, base+"/metrics", "")
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

// liveDashboard dials a dashboard of every ticket to srv and waits for its
// snapshot; the test's end closes it.
func liveDashboard(t *testing.T, srv *Server) *wsclient.Client {
	t.Helper()
	c, err := wsclient.Dial(context.Background(), "ws"+srv.Base[len("http"):], "", "", &wsclient.View{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Conn.CloseNow() })
	if err := c.WaitFor(context.Background(), Patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	return c
}

// A writing transaction left open past the stall warning holds back no
// other change, is no stall in ticketstream_live_stalled_seconds, and its
// own change is delivered when it commits.
func TestServer_AnOpenTransactionIsNoStall(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, gormstore.Postgres, func(c *ticketstream.Config) { c.Live.StallWarning = time.Second })
	ctx := context.Background()
	c := liveDashboard(t, srv)
	if v := metric(t, srv.Internal, "ticketstream_live_subscribers"); v != 1 {
		t.Fatalf("ticketstream_live_subscribers = %v, want 1", v)
	}

	connect := func() *pgx.Conn {
		conn, err := pgx.Connect(ctx, srv.Server.App.Store.Target())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	conn, other := connect(), connect()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET subject = 'held open' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	// Held open past the stall warning, the transaction holds back no
	// other session's change, and is no stall.
	time.Sleep(1500 * time.Millisecond)
	if _, err := other.Exec(ctx, `UPDATE tickets SET subject = 'committed beside it' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, Patience(t), func(v *wsclient.View) bool { return v.Tickets[2].Subject == "committed beside it" }); err != nil {
		t.Fatalf("a change committed while another transaction was open was not delivered: %v", err)
	}
	if v := metric(t, srv.Internal, "ticketstream_live_stalled_seconds"); v != 0 {
		t.Fatalf("ticketstream_live_stalled_seconds = %v with an open transaction: it stalls nothing", v)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, Patience(t), func(v *wsclient.View) bool { return v.Tickets[1].Subject == "held open" }); err != nil {
		t.Fatalf("the open transaction's change was not delivered once it committed: %v", err)
	}
	for _, name := range []string{"ticketstream_live_changes_total", "ticketstream_live_deliveries_total", "ticketstream_websocket_connections", "ticketstream_pool_gets_total"} {
		if v := metric(t, srv.Internal, name); v < 1 {
			t.Fatalf("%s = %v after a stream and a change, want at least 1", name, v)
		}
	}
}

// A database that hangs — its connections open, nothing forwarded, as
// behind a network that stopped — is a stall: the gauge rises past the
// stall warning, the warning says no change reaches any dashboard, and
// once the network flows again the change committed meanwhile arrives and
// the gauge falls back to 0.
func TestServer_AHungDatabaseIsAStall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	proxy := NewFaultProxy(t, mustHost(t, dbURL))
	logs := &portstest.LogBuffer{}
	srv := StartServerLogging(t, gormstore.Postgres, func(c *ticketstream.Config) {
		c.Database.URL = ThroughProxy(t, dbURL, proxy.Addr())
		c.Live.StallWarning = time.Second
	}, slog.New(slog.NewTextHandler(logs, nil)))
	c := liveDashboard(t, srv)
	writer, err := pgx.Connect(ctx, dbURL) // another program, not behind the proxy
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(ctx)

	proxy.SetBlackhole(true)
	defer proxy.SetBlackhole(false)
	if _, err := writer.Exec(ctx, `UPDATE tickets SET subject = 'while the feed hung' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	portstest.Await(t, "ticketstream_live_stalled_seconds to rise while the database hangs", func() bool {
		return metric(t, srv.Internal, "ticketstream_live_stalled_seconds") > 0
	})
	portstest.Await(t, "the stall warning", func() bool {
		return strings.Contains(logs.String(), "the change feed has not answered")
	})
	proxy.SetBlackhole(false)
	if err := c.WaitFor(ctx, Patience(t), func(v *wsclient.View) bool { return v.Tickets[1].Subject == "while the feed hung" }); err != nil {
		t.Fatalf("the change committed while the database hung was not delivered once it answered: %v", err)
	}
	portstest.Await(t, "ticketstream_live_stalled_seconds to fall back to 0", func() bool {
		return metric(t, srv.Internal, "ticketstream_live_stalled_seconds") == 0
	})
}

// A lock the feed's read waits on is a stall too, and the warning names
// the session to end: the head of the queue — a report left in its
// transaction, ahead of a queued LOCK TABLE — not the server's oldest
// writer, open in another database all along.
func TestServer_ALockTheReadWaitsOnIsAStallNamingItsHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pgtest.HoldWriterElsewhere(t)
	logs := &portstest.LogBuffer{}
	srv := StartServerLogging(t, gormstore.Postgres, func(c *ticketstream.Config) { c.Live.StallWarning = time.Second },
		slog.New(slog.NewTextHandler(logs, nil)))
	c := liveDashboard(t, srv)
	queue := pgtest.QueueBehindAReader(t, srv.Server.App.Store.Target(), "tickets")
	portstest.Await(t, "ticketstream_live_stalled_seconds to rise while the read waits on the lock", func() bool {
		return metric(t, srv.Internal, "ticketstream_live_stalled_seconds") > 0
	})
	portstest.Await(t, "a warning naming the report at the head of the lock queue", func() bool {
		return strings.Contains(logs.String(), "waits on a lock another session holds") &&
			strings.Contains(logs.String(), "pid="+strconv.Itoa(queue.ReaderPID))
	})
	lockerTx := queue.Release(t)
	if _, err := lockerTx.Exec(ctx, `UPDATE tickets SET subject = 'under the lock' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if err := lockerTx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, Patience(t), func(v *wsclient.View) bool { return v.Tickets[1].Subject == "under the lock" }); err != nil {
		t.Fatalf("the change made under the lock was not delivered once it was released: %v", err)
	}
	portstest.Await(t, "ticketstream_live_stalled_seconds to fall back to 0", func() bool {
		return metric(t, srv.Internal, "ticketstream_live_stalled_seconds") == 0
	})
}

// The metrics the operators' docs list are all on /metrics, and say what
// a known REST stream and a known dashboard did.
func TestServer_MetricsAfterAKnownStream(t *testing.T) {
	srv := StartServer(t, gormstore.SQLite, nil)
	ctx := context.Background()
	resp, body := Get(t, srv.Base+"/v1/tickets?status=open", "")
	var p page
	if resp.StatusCode != 200 || json.Unmarshal(body, &p) != nil || p.Count == 0 {
		t.Fatalf("REST: %d %.200s", resp.StatusCode, body)
	}
	restBytes := float64(len(body))
	checks := []struct {
		name      string
		cmp       string // "=", ">=" or ">"
		want      float64
		afterREST bool
	}{
		{"ticketstream_stream_rows_count", "=", 1, true},
		{"ticketstream_stream_rows_sum", "=", float64(p.Count), true},
		{"ticketstream_stream_bytes_sum", "<", restBytes, true}, // the rows, without the document around them
		{"ticketstream_stream_chunks_sum", ">=", 1, true},
		{"ticketstream_chunk_bytes_count", ">=", 1, true},
		{"ticketstream_stream_row_bytes_count", "=", 1, true},
		{`ticketstream_http_requests_total{code="200",route="/v1/tickets"}`, "=", 1, true},
		{`ticketstream_db_query_duration_seconds_count{kind="snapshot"}`, ">=", 1, true},
		{"ticketstream_pool_gets_total", ">=", 1, true},
	}
	cmp := func(got float64, op string, want float64) bool {
		switch op {
		case "=":
			return got == want
		case ">=":
			return got >= want
		case "<":
			return got >= 0 && got < want
		}
		return got > want
	}
	for _, c := range checks {
		if got := metric(t, srv.Internal, c.name); !cmp(got, c.cmp, c.want) {
			t.Errorf("after one REST stream: %s = %v, want %s %v", c.name, got, c.cmp, c.want)
		}
	}

	view := &wsclient.View{}
	c, err := wsclient.Dial(ctx, "ws"+srv.Base[len("http"):], "team=billing", "", view)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Conn.CloseNow()
	if err := c.WaitFor(ctx, Patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
		t.Fatal(err)
	}
	billing := len(view.Tickets)
	var changed domain.Ticket
	for _, tk := range view.Tickets {
		changed = tk
		break
	}
	changed.Subject, changed.UpdatedAt = "metrics test", time.Now().UTC()
	if err := srv.Server.App.Store.UpdateTicket(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, Patience(t), func(v *wsclient.View) bool { return v.Tickets[changed.ID].Subject == "metrics test" }); err != nil {
		t.Fatal(err)
	}
	messages := float64(view.Counts.Messages)
	for _, c := range []struct {
		name string
		cmp  string
		want float64
	}{
		{"ticketstream_stream_rows_count", "=", 2},
		{"ticketstream_stream_rows_sum", "=", float64(p.Count + billing)},
		{"ticketstream_websocket_connections", "=", 1},
		{"ticketstream_websocket_messages_total", "=", messages},
		{"ticketstream_websocket_sent_bytes_total", ">", 0},
		{"ticketstream_websocket_slow_closed_total", "=", 0},
		{"ticketstream_live_lag_seconds_count", "=", 1},
		{"ticketstream_live_lag_seconds_sum", "<", 10},
		{"ticketstream_live_changes_total", ">=", 1},
		{`ticketstream_db_query_duration_seconds_count{kind="changes"}`, ">=", 1},
		{`ticketstream_db_query_errors_total{kind="snapshot"}`, "=", 0},
		{"ticketstream_pool_news_total", ">=", 1},
		{"ticketstream_pool_grown_total", "=", 0},
		{"ticketstream_pool_dropped_total", "=", 0},
	} {
		if got := metric(t, srv.Internal, c.name); !cmp(got, c.cmp, c.want) {
			t.Errorf("after a dashboard and one change: %s = %v, want %s %v", c.name, got, c.cmp, c.want)
		}
	}
}
