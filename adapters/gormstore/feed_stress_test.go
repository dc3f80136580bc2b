package gormstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

var errHangUp = errors.New("hang up")

type view16 struct {
	hist   map[int64][]string
	all    map[int64]domain.Ticket
	scoped map[int64]domain.Ticket // team A dashboard
	// resumes: what the team-A dashboard held at some of its hang-ups
	resumes []map[int64]bool
}

func (v *view16) apply(ch ports.Change) {
	v.hist[ch.Ticket.ID] = append(v.hist[ch.Ticket.ID], fmt.Sprintf("%v removed=%v team=%q subj=%q", ch.Pos, ch.Removed, ch.Ticket.Team, ch.Ticket.Subject))
	if ch.Removed {
		delete(v.all, ch.Ticket.ID)
	} else {
		v.all[ch.Ticket.ID] = ch.Ticket
	}
	if !ch.Removed && ch.Ticket.Team == "A" {
		v.scoped[ch.Ticket.ID] = ch.Ticket
	} else {
		delete(v.scoped, ch.Ticket.ID) // it knows what it holds
	}
}

// hangUp records what the team-A dashboard holds as it hangs up.
func (v *view16) hangUp() {
	held := make(map[int64]bool, len(v.scoped))
	for id := range v.scoped {
		held[id] = true
	}
	v.resumes = append(v.resumes, held)
}

// writers hold transactions open (some for over a second), move
// tickets between teams, delete and re-insert them, commit out of xid
// order; a reader with pages of 2 hangs up at random and resumes from the
// last change's position (sometimes capped to 2 pending, as a cursor is
// capped). At the end its views must equal the database, and every ticket
// a team-A dashboard held at a hang-up that is no longer in team A must be
// named by Departed from A (asked with no lower bound, as a resume does):
// else that dashboard, resuming, would keep it.
func TestFeed_StressResumesWithHeldTransactions(t *testing.T) {
	s, url := openPostgres(t)
	ctx := context.Background()
	const nTickets = 40
	tickets := demodata.New(5).Tickets(nTickets)
	for i := range tickets {
		tickets[i].Team = "A"
	}
	if err := s.InsertTickets(ctx, tickets); err != nil {
		t.Fatal(err)
	}
	_, start := portstest.WaitChanges(t, s, domain.ChangePos{}, 100, nTickets)
	v := &view16{hist: map[int64][]string{}, all: map[int64]domain.Ticket{}, scoped: map[int64]domain.Ticket{}}
	for _, tk := range tickets {
		v.all[tk.ID], v.scoped[tk.ID] = tk, tk
	}

	{
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		// tickets_orig: every ticket as inserted, for re-inserts
		if _, err := c.Exec(ctx, `CREATE TABLE tickets_orig AS SELECT * FROM tickets`); err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr error
	var errMu sync.Mutex
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(w)))
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close(ctx)
			if _, err := c.Exec(ctx, `CREATE TEMP TABLE keep AS SELECT * FROM tickets WHERE false`); err != nil {
				t.Error(err)
				return
			}
			n := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				n++
				err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
					k := 1 + r.Intn(6)
					for i := 0; i < k; i++ {
						id := tickets[r.Intn(nTickets)].ID
						switch r.Intn(5) {
						case 0:
							if _, err := tx.Exec(ctx, `UPDATE tickets SET team = $2, subject = $3 WHERE id = $1`, id, []string{"A", "B", "C"}[r.Intn(3)], fmt.Sprintf("w%d-%d", w, n)); err != nil {
								return err
							}
						case 1:
							// delete and re-insert, maybe in another team
							if _, err := tx.Exec(ctx, `INSERT INTO keep SELECT * FROM tickets WHERE id = $1`, id); err != nil {
								return err
							}
							if _, err := tx.Exec(ctx, `DELETE FROM tickets WHERE id = $1`, id); err != nil {
								return err
							}
							if r.Intn(2) == 0 {
								if _, err := tx.Exec(ctx, `UPDATE keep SET team = $1`, []string{"A", "B"}[r.Intn(2)]); err != nil {
									return err
								}
								if _, err := tx.Exec(ctx, `INSERT INTO tickets SELECT * FROM keep ON CONFLICT DO NOTHING`); err != nil {
									return err
								}
							}
							if _, err := tx.Exec(ctx, `TRUNCATE keep`); err != nil {
								return err
							}
						case 2:
							// Re-insert a deleted one, in a later transaction.
							if _, err := tx.Exec(ctx, `INSERT INTO tickets SELECT * FROM tickets_orig WHERE id = $1 ON CONFLICT DO NOTHING`, id); err != nil {
								return err
							}
						default:
							if _, err := tx.Exec(ctx, `UPDATE tickets SET subject = $2 WHERE id = $1`, id, fmt.Sprintf("w%d-%d", w, n)); err != nil {
								return err
							}
						}
					}
					switch r.Intn(10) {
					case 0:
						time.Sleep(time.Duration(500+r.Intn(1000)) * time.Millisecond)
					default:
						time.Sleep(time.Duration(r.Intn(40)) * time.Millisecond)
					}
					return nil
				})
				if err != nil {
					var msg string
					if msg = err.Error(); !isRetryable(msg) {
						errMu.Lock()
						werr = err
						errMu.Unlock()
						return
					}
				}
			}
		}(w)
	}

	r := rand.New(rand.NewSource(99))
	pos := start
	read := func(until time.Time) {
		for time.Now().Before(until) {
			budget := 1 + r.Intn(12)
			if os.Getenv("NORESUME") != "" {
				budget = 1 << 30
			}
			_, err := s.ReadChanges(ctx, pos, domain.ChangePos{}, 2, ports.ChangeHandlerFunc(func(batch []ports.Change) error {
				for _, ch := range batch {
					v.apply(ch)
					pos = ch.Pos
					budget--
					if budget == 0 {
						if r.Intn(8) == 0 && len(v.resumes) < 40 {
							v.hangUp()
						}
						return errHangUp
					}
				}
				return nil
			}))
			if err != nil && !errors.Is(err, errHangUp) {
				t.Fatal(err)
			}
			if err == nil {
				// reached: the read's end
			}
			if r.Intn(4) == 0 && os.Getenv("NOCAP") == "" {
				pos = pos.CapPending(2)
			}
			time.Sleep(time.Duration(r.Intn(20)) * time.Millisecond)
		}
	}
	dur := 8 * time.Second
	if testing.Short() {
		dur = 2 * time.Second
	}
	if d, err := time.ParseDuration(os.Getenv("STRESS_FOR")); err == nil {
		dur = d
	}
	read(time.Now().Add(dur))
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	// drain
	for i := 0; i < 3; i++ {
		p, err := s.ReadChanges(ctx, pos, domain.ChangePos{}, 2, ports.ChangeHandlerFunc(func(batch []ports.Change) error {
			for _, ch := range batch {
				v.apply(ch)
			}
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		pos = p
	}
	db := map[int64]domain.Ticket{}
	rows, err := s.ReadChanges(ctx, domain.ChangePos{}, domain.ChangePos{}, 1000, ports.ChangeHandlerFunc(func(batch []ports.Change) error {
		for _, ch := range batch {
			if !ch.Removed {
				db[ch.Ticket.ID] = ch.Ticket
			}
		}
		return nil
	}))
	_ = rows
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for id, tk := range db {
		got, ok := v.all[id]
		if !ok || got.Subject != tk.Subject || got.Team != tk.Team {
			t.Errorf("ticket %d: view %+v (held %v), database subject %q team %q; history:\n%s", id, got.Subject, ok, tk.Subject, tk.Team, tail16(v.hist[id]))
			bad++
		}
		_, inScoped := v.scoped[id]
		if (tk.Team == "A") != inScoped {
			t.Errorf("ticket %d: team %q in the database, in the team-A view: %v", id, tk.Team, inScoped)
			bad++
		}
	}
	for id := range v.all {
		if _, ok := db[id]; !ok {
			t.Errorf("ticket %d: deleted in the database, still in the view", id)
		}
	}
	for id := range v.scoped {
		if tk, ok := db[id]; !ok || tk.Team != "A" {
			t.Errorf("ticket %d: not in team A in the database, still in the team-A view; history:\n%s", id, tail16(v.hist[id]))
		}
	}
	departed, err := s.Departed(ctx, domain.ChangePos{}, []string{"A"})
	if err != nil {
		t.Fatal(err)
	}
	for i, held := range v.resumes {
		for id := range held {
			if tk, ok := db[id]; (!ok || tk.Team != "A") && !slices.Contains(departed, id) {
				t.Errorf("ticket %d: held by the team-A dashboard at hang-up %d, no longer in team A, and not among the departures from A; history:\n%s", id, i, tail16(v.hist[id]))
			}
		}
	}
}

func isRetryable(msg string) bool {
	for _, s := range []string{"deadlock", "could not serialize"} {
		if contains(msg, s) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func tail16(h []string) string {
	if len(h) > 8 {
		h = h[len(h)-8:]
	}
	return strings.Join(h, "\n")
}
