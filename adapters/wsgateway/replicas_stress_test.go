package wsgateway_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/gormstore/pgtest"
	"github.com/ticketstream/ticketstream/adapters/wsgateway/wsclient"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

// Writers (some holding transactions for up to 1.5 s, some bulk, moving
// tickets between billing and sales, deleting and re-inserting) while an
// admin and a billing dashboard hang up every few messages and resume on
// either of two replicas (one reading in pages of 7). At the end each view
// must equal the database, with no regression.
func TestReplicas_StressHangUps(t *testing.T) {
	dur := 8 * time.Second
	if testing.Short() {
		dur = 2 * time.Second
	}
	if s := os.Getenv("STRESS_FOR"); s != "" { // longer, to look harder
		dur, _ = time.ParseDuration(s)
	}
	tickets := demodata.New(81).Tickets(600)
	for i := range tickets {
		tickets[i].Team = []string{"billing", "sales"}[i%2]
	}
	store, hub, base := storeGateway(t, gormstore.Postgres, tickets)
	store2, hub2, base2 := gatewayOn(t, store.Target(), 7)
	ctx := context.Background()
	waitDispatched(t, store, hub)
	waitDispatched(t, store2, hub2)
	pgtest.HoldWriterElsewhere(t)
	ids := make([]int64, len(tickets))
	byID := map[int64]domain.Ticket{}
	for i, tk := range tickets {
		ids[i] = tk.ID
		byID[tk.ID] = tk
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var deleted sync.Map // id → true while deleted
	for w := range 5 {
		conn := pgConn(t, store.Target())
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 16))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				tx, err := conn.Begin(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				k := 1 + rng.IntN(20)
				if rng.IntN(40) == 0 {
					k = 400
				}
				var set []int64
				for range k {
					set = append(set, ids[rng.IntN(len(ids))])
				}
				team := []string{"billing", "sales"}[rng.IntN(2)]
				_, err = tx.Exec(ctx, `UPDATE tickets SET subject = $1, team = CASE WHEN random() < 0.3 THEN $3 ELSE team END, updated_at = greatest(updated_at + interval '1 millisecond', clock_timestamp()) WHERE id = ANY($2)`,
					fmt.Sprintf("w%d-%d", w, n), set, team)
				if err == nil && w == 0 && rng.IntN(4) == 0 {
					id := ids[rng.IntN(len(ids))]
					if _, gone := deleted.Load(id); !gone {
						if _, err = tx.Exec(ctx, `DELETE FROM tickets WHERE id = $1`, id); err == nil {
							defer func() {}()
							deleted.Store(id, n)
						}
					}
				}
				if err == nil && rng.IntN(8) == 0 {
					time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
				}
				if err != nil {
					_ = tx.Rollback(ctx)
					continue
				}
				if err := tx.Commit(ctx); err != nil {
					continue
				}
				// re-insert some deleted tickets
				if w == 0 && rng.IntN(3) == 0 {
					deleted.Range(func(key, _ any) bool {
						id := key.(int64)
						tk := byID[id]
						tk.Subject = fmt.Sprintf("reinserted %d", n)
						tk.Team = []string{"billing", "sales"}[rng.IntN(2)]
						tk.UpdatedAt = time.Now().Add(time.Hour)
						if err := store.InsertTickets(ctx, []domain.Ticket{tk}); err == nil {
							deleted.Delete(id)
						}
						return false
					})
				}
			}
		})
	}
	type dash struct {
		token string
		view  *wsclient.View
		hups  int
	}
	dashes := []*dash{{token: "admin", view: &wsclient.View{}}, {token: "billing", view: &wsclient.View{}}, {token: "billing", view: &wsclient.View{}}}
	var dg sync.WaitGroup
	for i, d := range dashes {
		dg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(100+i), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				b := []string{base, base2}[rng.IntN(2)]
				c, err := wsclient.Dial(ctx, b, "", d.token, d.view)
				if err != nil {
					t.Error(err)
					return
				}
				n := 1 + rng.IntN(12)
				rctx, cancel := context.WithTimeout(ctx, time.Duration(50+rng.IntN(500))*time.Millisecond)
				for range n {
					if _, err := c.Next(rctx); err != nil {
						break
					}
				}
				cancel()
				c.Conn.CloseNow()
				d.hups++
			}
		})
	}
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	dg.Wait()
	// bring back the deleted ones? leave them deleted: the views must agree.
	writer := pgConn(t, store.Target())
	waitDispatched(t, store, hub)
	waitDispatched(t, store2, hub2)
	var mk int64
	for _, tk := range readAllTickets(t, store) {
		if tk.Team == "billing" {
			mk = tk.ID
			break
		}
	}
	for i, d := range dashes {
		c, err := wsclient.Dial(ctx, []string{base, base2}[i%2], "", d.token, d.view)
		if err != nil {
			t.Fatal(err)
		}
		marker(t, writer, c, mk, fmt.Sprintf("end %d", i))
		if err := c.WaitFor(ctx, patience(t), func(v *wsclient.View) bool { return v.SnapshotDone }); err != nil {
			t.Fatal(err)
		}
		c.Conn.CloseNow()
		t.Logf("dashboard %d (%s): %d hang-ups, counts %+v", i, d.token, d.hups, d.view.Counts)
		team := ""
		if d.token == "billing" {
			team = "billing"
		}
		t.Run(fmt.Sprintf("view%d", i), func(t *testing.T) { checkView(t, store, d.view, team) })
	}
	_ = pgx.ErrNoRows
}
