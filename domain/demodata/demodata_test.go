package demodata_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

func TestGenerator_IsDeterministicAndValid(t *testing.T) {
	t.Parallel()
	a, b := demodata.New(7).Tickets(500), demodata.New(7).Tickets(500)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different tickets")
	}
	if reflect.DeepEqual(a, demodata.New(8).Tickets(500)) {
		t.Fatal("different seeds gave the same tickets")
	}
	for i := range a {
		if err := a[i].Validate(); err != nil {
			t.Fatalf("ticket %d is invalid: %v", a[i].ID, err)
		}
		if a[i].ID != int64(i+1) {
			t.Fatalf("ticket %d has id %d", i, a[i].ID)
		}
	}
}

// TestGenerator_LooksLikeTheAnalysisData checks the size the benchmarks rely
// on (the analysis measured 393 B/row) and a help desk's spread.
func TestGenerator_LooksLikeTheAnalysisData(t *testing.T) {
	t.Parallel()
	const n = 20000
	tickets := demodata.New(1).Tickets(n)
	total := 0
	statuses := map[domain.Status]int{}
	unassignedNew, news := 0, 0
	for _, tk := range tickets {
		b, err := json.Marshal(tk)
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
		statuses[tk.Status]++
		if tk.Status == domain.StatusNew {
			news++
			if tk.Assignee == "" {
				unassignedNew++
			}
		}
	}
	if avg := float64(total) / n; avg < 383 || avg > 403 {
		t.Fatalf("average JSON size %.1f B/row, want about 393", avg)
	}
	if len(statuses) != len(domain.Statuses) {
		t.Fatalf("only %d statuses used", len(statuses))
	}
	if statuses[domain.StatusSolved]+statuses[domain.StatusClosed] < n/3 {
		t.Fatal("fewer than a third of tickets are solved or closed")
	}
	if unassignedNew < news/2 {
		t.Fatal("most new tickets should be unassigned")
	}
}

func TestGenerator_ArrivalsAndUpdatesAreValid(t *testing.T) {
	t.Parallel()
	g := demodata.New(3)
	now := demodata.Epoch.Add(time.Hour)
	for i := range 200 {
		a := g.Arrival(int64(1000+i), now)
		if err := a.Validate(); err != nil || a.Status != domain.StatusNew || !a.CreatedAt.Equal(now) || a.ID != int64(1000+i) {
			t.Fatalf("arrival %+v: %v", a, err)
		}
		u := g.Update(a, now.Add(time.Minute))
		if err := u.Validate(); err != nil || !u.UpdatedAt.After(a.UpdatedAt) || u.ID != a.ID || u.Team != a.Team || !u.CreatedAt.Equal(a.CreatedAt) {
			t.Fatalf("update %+v of %+v: %v", u, a, err)
		}
	}
}

// Demo data ending now looks like a live help desk's: every ticket created
// and updated within the history, none in the future, many of them recent.
func TestGenerator_EndingNowIsMinutesToWeeksOld(t *testing.T) {
	now := time.Now()
	tickets := demodata.New(3).EndingAt(now).Tickets(2000)
	var lastDay, lastWeek int
	for _, tk := range tickets {
		if tk.CreatedAt.Before(now.Add(-demodata.History)) || tk.UpdatedAt.After(now) || tk.UpdatedAt.Before(tk.CreatedAt) {
			t.Fatalf("ticket %d created %v, updated %v: outside the history ending %v", tk.ID, tk.CreatedAt, tk.UpdatedAt, now)
		}
		if now.Sub(tk.CreatedAt) < 24*time.Hour {
			lastDay++
		}
		if now.Sub(tk.CreatedAt) < 7*24*time.Hour {
			lastWeek++
		}
	}
	if lastDay < 2000/5 || lastWeek < 2000*2/5 {
		t.Fatalf("%d tickets created in the last day and %d in the last week of 2000: want a live help desk's mix", lastDay, lastWeek)
	}
}
