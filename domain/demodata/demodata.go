// Package demodata generates realistic, deterministic support tickets: the
// data set behind the benchmarks, `ticketstream seed` and the demo server.
//
// Its tickets average about 393 bytes of JSON each, like the data of the
// analysis the product grew from, and spread over teams, statuses, priorities
// and agents the way a help desk's do: most tickets solved or closed, a few
// urgent, new tickets mostly unassigned, some subjects with quotes,
// ampersands, accents and emoji.
package demodata

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// Epoch is the instant the generated history ends at unless EndingAt says
// otherwise. Fixed so that output depends only on the seed.
var Epoch = time.Date(2025, 10, 26, 12, 0, 0, 0, time.UTC)

// History is how far back tickets are created before the end of the
// history. Ages are skewed the way a live help desk's are: half the
// tickets are under a week old, about one in six under five hours, the
// oldest eight weeks.
const History = 8 * 7 * 24 * time.Hour

// Generator produces tickets from a seed. It is not safe for concurrent use.
type Generator struct {
	rng    *rand.Rand
	nextID int64
	end    time.Time
}

// New returns a Generator whose tickets are a function of seed alone, with
// IDs counting up from 1 and a history that ends at Epoch.
func New(seed uint64) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), nextID: 1, end: Epoch}
}

// EndingAt makes the generated history end at end instead of Epoch — at
// time.Now() for demo data a dashboard shows as a live help desk's — and
// returns g. The tickets are then a function of the seed and end.
func (g *Generator) EndingAt(end time.Time) *Generator {
	g.end = end.UTC().Truncate(time.Microsecond)
	return g
}

// SetNextID makes the next ticket's ID id (for appending to existing data).
func (g *Generator) SetNextID(id int64) { g.nextID = id }

// Tickets returns n new tickets.
func (g *Generator) Tickets(n int) []domain.Ticket {
	out := make([]domain.Ticket, n)
	for i := range out {
		out[i] = g.Ticket()
	}
	return out
}

// Ticket returns one new ticket.
func (g *Generator) Ticket() domain.Ticket {
	r := g.rng
	team := pickWeighted(r, teams)
	status := pickWeighted(r, statuses)
	created := g.end.Add(-age(r.Int64N(int64(History)))).Truncate(time.Microsecond)
	updated := created
	if status != domain.StatusNew || r.IntN(3) == 0 {
		updated = created.Add(time.Duration(r.Int64N(int64(g.end.Sub(created)) + 1))).Truncate(time.Microsecond)
	}
	t := domain.Ticket{
		ID:        g.nextID,
		Team:      team.name,
		Subject:   g.subject(),
		Status:    status,
		Priority:  pickWeighted(r, priorities),
		Requester: g.requester(),
		Tags:      g.tags(),
		CreatedAt: created,
		UpdatedAt: updated,
	}
	if status != domain.StatusNew || r.IntN(4) == 0 {
		t.Assignee = team.agents[r.IntN(len(team.agents))]
	}
	g.nextID++
	return t
}

// age skews a draw uniform over History towards the present: a help desk
// holds many tickets of the last hours and days and fewer of past weeks.
func age(draw int64) time.Duration {
	u := float64(draw) / float64(History)
	return time.Duration(u * u * u * float64(History))
}

// Arrival returns a ticket that arrives at instant at with the given id: new,
// usually unassigned, created and updated at that instant.
func (g *Generator) Arrival(id int64, at time.Time) domain.Ticket {
	t := g.Ticket()
	g.nextID-- // Ticket advanced it; arrivals take their id from the caller
	at = at.UTC().Truncate(time.Microsecond)
	t.ID, t.Status, t.CreatedAt, t.UpdatedAt = id, domain.StatusNew, at, at
	if g.rng.IntN(4) != 0 {
		t.Assignee = ""
	}
	return t
}

// Update returns t as an agent would leave it after working on it at
// instant at: a new status, perhaps a new assignee or priority.
func (g *Generator) Update(t domain.Ticket, at time.Time) domain.Ticket {
	r := g.rng
	t.Status = pickWeighted(r, statuses)
	if r.IntN(4) == 0 {
		t.Priority = pickWeighted(r, priorities)
	}
	if t.Assignee == "" || r.IntN(8) == 0 {
		for _, tm := range teams {
			if tm.value.name == t.Team {
				t.Assignee = tm.value.agents[r.IntN(len(tm.value.agents))]
			}
		}
	}
	t.Tags = append([]string(nil), t.Tags...)
	t.UpdatedAt = at.UTC().Truncate(time.Microsecond)
	return t
}

func (g *Generator) subject() string {
	r := g.rng
	s := subjects[r.IntN(len(subjects))]
	s = strings.ReplaceAll(s, "{product}", products[r.IntN(len(products))])
	s = strings.ReplaceAll(s, "{order}", fmt.Sprintf("%07d", r.IntN(10_000_000)))
	s = strings.ReplaceAll(s, "{feature}", features[r.IntN(len(features))])
	if r.IntN(3) == 0 {
		s += " - " + followUps[r.IntN(len(followUps))]
	}
	return s
}

func (g *Generator) requester() string {
	r := g.rng
	first := firstNames[r.IntN(len(firstNames))]
	last := lastNames[r.IntN(len(lastNames))]
	return strings.ToLower(first+"."+last) + "@" + domains[r.IntN(len(domains))]
}

func (g *Generator) tags() []string {
	r := g.rng
	n := []int{0, 1, 2, 2, 3, 3, 4}[r.IntN(7)]
	if n == 0 {
		return []string{}
	}
	out := make([]string, 0, n)
	for len(out) < n {
		tag := tagWords[r.IntN(len(tagWords))]
		dup := false
		for _, have := range out {
			dup = dup || have == tag
		}
		if !dup {
			out = append(out, tag)
		}
	}
	return out
}

type weighted[T any] struct {
	value  T
	weight int
}

func pickWeighted[T any](r *rand.Rand, items []weighted[T]) T {
	total := 0
	for _, it := range items {
		total += it.weight
	}
	n := r.IntN(total)
	for _, it := range items {
		if n < it.weight {
			return it.value
		}
		n -= it.weight
	}
	return items[len(items)-1].value
}
