package app

import (
	"encoding/json"
	"testing"

	"github.com/ticketstream/ticketstream/domain"
)

type countsJSON struct {
	Total  int
	Status map[string]int
	Team   map[string]int
}

func viewCounts(t *testing.T, v *view, all bool) countsJSON {
	t.Helper()
	var c countsJSON
	if err := json.Unmarshal(v.appendCounts(nil, all), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestView_MovesTicketsBetweenBuckets(t *testing.T) {
	t.Parallel()
	var v view
	v.put(1, statusNumber(domain.StatusOpen), []byte("billing"))
	v.put(2, statusNumber(domain.StatusPending), []byte("billing"))
	v.put(3, statusNumber(domain.StatusOpen), []byte(`\u003csales\u003e`))
	c := viewCounts(t, &v, true)
	if c.Total != 3 || c.Status["open"] != 2 || c.Status["pending"] != 1 || c.Status["closed"] != 0 || c.Team["billing"] != 2 || c.Team["<sales>"] != 1 || len(c.Status) != 6 {
		t.Fatalf("counts %+v", c)
	}
	// Ticket 1 moves to solved and to sales; ticket 2 goes away.
	v.put(1, statusNumber(domain.StatusSolved), []byte(`\u003csales\u003e`))
	v.remove(2)
	v.remove(424242) // never held: nothing
	c = viewCounts(t, &v, false)
	if c.Total != 2 || c.Status["open"] != 1 || c.Status["solved"] != 1 || c.Status["pending"] != 0 || c.Team["billing"] != 0 || c.Team["<sales>"] != 2 || len(c.Status) != 3 {
		t.Fatalf("changed counts %+v", c)
	}
	if v.changed() {
		t.Fatal("appendCounts left changes marked")
	}
	if c := viewCounts(t, &v, true); len(c.Team) != 1 {
		t.Fatalf("all counts list an emptied team: %+v", c)
	}
	v.put(3, statusNumber(domain.StatusOpen), []byte(`\u003csales\u003e`)) // unchanged
	if v.changed() {
		t.Fatal("a change that moved nothing marked the counts changed")
	}
}

func TestView_StatusNumbersFollowDomainStatuses(t *testing.T) {
	t.Parallel()
	if len(statusOrder) != len(domain.Statuses) || 1<<statusBits < len(statusOrder) {
		t.Fatalf("%d statuses numbered, domain has %d", len(statusOrder), len(domain.Statuses))
	}
	for i, s := range domain.Statuses {
		if statusOrder[i] != s || statusNumber(s) != uint8(i) {
			t.Fatalf("status %q numbered %d, domain.Statuses has it at %d", s, statusNumber(s), i)
		}
	}
}

func TestView_ManyTeams(t *testing.T) {
	t.Parallel()
	var v view
	for i := range 40 {
		team := []byte{'t', byte('a' + i%26), byte('a' + i/26)}
		v.put(int64(i+1), uint8(i%6), team)
		v.put(int64(i+1001), uint8(i%6), team)
	}
	c := viewCounts(t, &v, true)
	if c.Total != 80 || len(c.Team) != 40 {
		t.Fatalf("counts %+v", c)
	}
	for name, n := range c.Team {
		if n != 2 {
			t.Fatalf("team %s counts %d, want 2", name, n)
		}
	}
}
