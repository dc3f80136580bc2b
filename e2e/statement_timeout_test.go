package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/httperror"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

// TestFault_StatementTimeoutSaysTryAgainLater holds a lock on the tickets
// table (a migration's ALTER TABLE, say) for longer than
// --db-statement-timeout: a REST fetch is answered 503 and a dashboard's
// socket is closed 1013 — come back later — never 500 or 1011, "internal
// error", which says the server is broken and the request wrong to retry.
// The REST answer names the timeout, and the log keeps the database's
// error for the operator.
func TestFault_StatementTimeoutSaysTryAgainLater(t *testing.T) {
	logs := &portstest.LogBuffer{}
	srv := StartServerLogging(t, gormstore.Postgres, func(c *ticketstream.Config) {
		c.Database.StatementTimeout = 300 * time.Millisecond
	}, slog.New(slog.NewJSONHandler(logs, nil)))
	ctx := context.Background()
	locker, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the lock goes with the test
	if _, err := tx.Exec(ctx, `LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	resp, body := Get(t, srv.Base+"/v1/tickets?limit=10", "")
	var got httperror.Body
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &got) != nil ||
		got.Error.Code != "unavailable" || !strings.Contains(got.Error.Message, "statement") {
		t.Errorf("REST fetch while a lock outlasts the statement timeout: %d %s; want 503 naming the timeout", resp.StatusCode, body)
	}
	// The operator is told what the database said: a query that times out
	// every time is a slow query to find, not a blip.
	warned := false
	for _, line := range strings.Split(logs.String(), "\n") {
		warned = warned || strings.Contains(line, `"level":"WARN","msg":"request refused for now"`) &&
			strings.Contains(line, `"path":"/v1/tickets"`) && strings.Contains(line, "SQLSTATE 57014")
	}
	if !warned {
		t.Errorf("no warning with the database's error in the log:\n%s", logs.String())
	}

	c, _, err := websocket.Dial(ctx, strings.Replace(srv.Base, "http", "ws", 1)+"/v1/stream", &websocket.DialOptions{Subprotocols: []string{wsclient.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	readCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		_, _, err = c.Read(readCtx)
		if err != nil {
			break
		}
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater {
		t.Errorf("dashboard while a lock outlasts the statement timeout: %v; want close 1013", err)
	}

	// The lock gone, both are served again.
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, body := Get(t, srv.Base+"/v1/tickets?limit=10", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("REST fetch once the lock is gone: %d %s", resp.StatusCode, body)
	}
}
