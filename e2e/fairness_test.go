package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to rename tables under the server

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/jwtauth"
)

// slowExport opens GET /v1/tickets on a raw connection with a small receive
// buffer and reads it a little at a time until ctx ends: a client that
// keeps its stream (and the server's work for it) going as long as it can.
func slowExport(ctx context.Context, addr, token string, started chan<- int) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		started <- 0
		return
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	fmt.Fprintf(c, "GET /v1/tickets HTTP/1.1\r\nHost: %s\r\n%sAccept: application/x-ndjson\r\n\r\n", addr, auth)
	br := bufio.NewReaderSize(c, 512)
	// Generous: forty streams' first batches queue for four connections,
	// and under -race that takes a while.
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	line, err := br.ReadString('\n')
	status := 0
	if _, scanErr := fmt.Sscanf(line, "HTTP/1.1 %d", &status); err != nil || scanErr != nil {
		started <- 0
		return
	}
	started <- status
	_ = c.SetReadDeadline(time.Time{})
	buf := make([]byte, 256)
	for ctx.Err() == nil {
		if _, err := br.Read(buf); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadiness_AnswersUnderExportLoad: forty slow exports share a pool of
// four connections, and /readyz still answers 200 at once, because it reads
// the tickets table on a connection reserved for it.
func TestReadiness_AnswersUnderExportLoad(t *testing.T) {
	r := StartServer(t, gormstore.Postgres, func(c *ticketstream.Config) {
		c.Database.MaxOpenConns = 4
		c.Server.DemoTickets = 20_000
		// A slow reader starved of CPU on a busy machine must not have its
		// stream cut for a stalled write: the exports are the load.
		c.Server.REST.WriteTimeout = 10 * time.Minute
	})
	addr := strings.TrimPrefix(r.Base, "http://")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	started := make(chan int, 40)
	for range 40 {
		wg.Go(func() { slowExport(ctx, addr, "", started) })
	}
	for range 40 {
		if status := <-started; status != 200 {
			t.Fatalf("a slow export started with %d", status)
		}
	}
	client := &http.Client{Timeout: 5 * time.Second} // generous: the check itself is bounded at 800ms
	for i := range 20 {
		if n := r.Server.REST.ActiveStreams(); n < 30 {
			t.Fatalf("only %d exports still running at check %d: the load is gone", n, i)
		}
		resp, err := client.Get(r.Base + "/readyz")
		if err != nil {
			t.Fatalf("/readyz under load, check %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/readyz under load, check %d: %d %s", i, resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadiness_RefusesWhenTicketsCannotBeRead: a ping would answer while
// every query fails; /readyz reads the table, so a renamed table (or a
// change feed that stopped answering) makes it 503 with the reason.
func TestReadiness_RefusesWhenTicketsCannotBeRead(t *testing.T) {
	r := StartServer(t, gormstore.Postgres, func(c *ticketstream.Config) {
		c.Server.REST.FeedStaleAfter = time.Second
	})
	db, err := sql.Open("pgx", r.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rename := func(from, to string) {
		t.Helper()
		if _, err := db.Exec(fmt.Sprintf("ALTER TABLE %s RENAME TO %s", from, to)); err != nil {
			t.Fatal(err)
		}
	}
	waitStatus := func(want int, mentions string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, body := Get(t, r.Base+"/readyz", "")
			if resp.StatusCode == want && strings.Contains(string(body), mentions) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz = %d %s, want %d mentioning %q", resp.StatusCode, body, want, mentions)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rename("tickets", "tickets_gone")
	waitStatus(503, "cannot read tickets")
	rename("tickets_gone", "tickets")
	waitStatus(200, "ready")
	// The change feed reads the removals table; without it the feed fails
	// while tickets still read, and dashboards would hear of no change.
	rename("ticket_removals", "ticket_removals_gone")
	waitStatus(503, "change feed has not been read")
	rename("ticket_removals_gone", "ticket_removals")
	waitStatus(200, "ready")
}

// TestFairness_LimitsConcurrentRESTStreams: one token, or one client
// address, may run only so many streams at once; the next gets 429 with
// Retry-After and a JSON body naming the limit, and a forged
// X-Forwarded-For does not make a client someone else.
func TestFairness_LimitsConcurrentRESTStreams(t *testing.T) {
	r := StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) {
		c.Server.JWTSecret = Secret
		c.Server.DemoTickets = 20_000
		c.Server.REST.MaxStreamsPerToken = 2
		c.Server.REST.MaxStreamsPerAddress = 3
	})
	addr := strings.TrimPrefix(r.Base, "http://")
	tokenA, _ := jwtauth.Issue([]byte(Secret), "a", []string{"*"}, time.Hour)
	tokenB, _ := jwtauth.Issue([]byte(Secret), "b", []string{"*"}, time.Hour)
	tokenC, _ := jwtauth.Issue([]byte(Secret), "c", []string{"*"}, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	started := make(chan int, 3)
	for _, tok := range []string{tokenA, tokenA, tokenB} {
		wg.Go(func() { slowExport(ctx, addr, tok, started) })
	}
	for range 3 {
		if status := <-started; status != 200 {
			t.Fatalf("a stream within the limits started with %d", status)
		}
	}
	refused := func(token, setting string) {
		t.Helper()
		resp, body := Get(t, r.Base+"/v1/tickets", token, "X-Forwarded-For", "203.0.113.77")
		var e struct {
			Error struct{ Code, Param, Message string }
		}
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
			json.Unmarshal(body, &e) != nil || e.Error.Code != "too_many_streams" || e.Error.Param != setting {
			t.Fatalf("want 429 naming %s with Retry-After; got %d %q %s", setting, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	refused(tokenA, "max-streams-per-token")
	refused(tokenC, "max-streams-per-address")
	cancel()
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for r.Server.REST.ActiveStreams() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow streams never ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, _ := Get(t, r.Base+"/v1/tickets?limit=5", tokenA); resp.StatusCode != 200 {
		t.Fatalf("after the streams ended: %d", resp.StatusCode)
	}
}
