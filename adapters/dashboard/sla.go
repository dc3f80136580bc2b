package dashboard

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// Target is one priority's service-level targets, each counted from the
// ticket's creation: when the first response is due and when the ticket
// should be solved.
type Target struct {
	FirstResponse time.Duration
	Resolution    time.Duration
}

// SLA holds the targets per priority ("urgent", "high", "normal", "low")
// that the page shows as a badge on each unsolved ticket. A nil SLA means
// DefaultSLA.
type SLA map[domain.Priority]Target

// priorities are the keys of an SLA, most urgent first.
var priorities = []domain.Priority{domain.PriorityUrgent, domain.PriorityHigh, domain.PriorityNormal, domain.PriorityLow}

// DefaultSLA returns the targets used without --sla:
// urgent=1h/4h,high=4h/1d,normal=1d/3d,low=3d/7d.
func DefaultSLA() SLA {
	const day = 24 * time.Hour
	return SLA{
		domain.PriorityUrgent: {time.Hour, 4 * time.Hour},
		domain.PriorityHigh:   {4 * time.Hour, day},
		domain.PriorityNormal: {day, 3 * day},
		domain.PriorityLow:    {3 * day, 7 * day},
	}
}

// ParseSLA reads targets written as "urgent=1h/4h,high=4h/1d": for each
// priority its first-response and resolution targets, each a whole number
// of minutes (m), hours (h), days (d) or weeks (w). Priorities not given
// keep DefaultSLA's targets. An unknown priority, one given twice, a
// malformed or non-positive target, or a first response due after the
// resolution is an error naming the "sla" setting.
func ParseSLA(s string) (SLA, error) {
	sla := DefaultSLA()
	seen := map[domain.Priority]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, targets, ok := strings.Cut(item, "=")
		p := domain.Priority(strings.TrimSpace(name))
		if !ok {
			return nil, domain.Invalidf("sla", "must be priority=first/resolution items such as urgent=1h/4h, got %q", item)
		}
		if _, known := sla[p]; !known {
			return nil, domain.Invalidf("sla", "names an unknown priority %q (want urgent, high, normal or low)", name)
		}
		if seen[p] {
			return nil, domain.Invalidf("sla", "gives the priority %q twice", p)
		}
		seen[p] = true
		first, resolution, ok := strings.Cut(targets, "/")
		if !ok {
			return nil, domain.Invalidf("sla", "must give %s two targets, first response/resolution as 1h/4h, got %q", p, targets)
		}
		var t Target
		var err error
		if t.FirstResponse, err = parseTarget(first); err != nil {
			return nil, domain.Invalidf("sla", "%s first response: %v", p, err)
		}
		if t.Resolution, err = parseTarget(resolution); err != nil {
			return nil, domain.Invalidf("sla", "%s resolution: %v", p, err)
		}
		sla[p] = t
	}
	if err := sla.Validate(); err != nil {
		return nil, err
	}
	return sla, nil
}

// parseTarget reads "90m", "4h", "3d" or "1w".
func parseTarget(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	units := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if len(s) < 2 {
		return 0, fmt.Errorf("want a number and a unit (m, h, d or w) such as 4h, got %q", s)
	}
	unit, ok := units[s[len(s)-1]]
	n, err := strconv.Atoi(s[:len(s)-1])
	if !ok || err != nil || strings.ContainsAny(s[:1], "+-") {
		return 0, fmt.Errorf("want a number and a unit (m, h, d or w) such as 4h, got %q", s)
	}
	if n <= 0 || n > 10_000 {
		return 0, fmt.Errorf("must be between 1 and 10000 units, got %q", s)
	}
	return time.Duration(n) * unit, nil
}

// Validate reports an SLA the page cannot show: a priority missing or
// unknown, a target not positive, or a first response due after the
// resolution. A nil SLA is valid (it means DefaultSLA).
func (s SLA) Validate() error {
	if s == nil {
		return nil
	}
	for p, t := range s {
		switch {
		case !isPriority(p):
			return domain.Invalidf("sla", "names an unknown priority %q (want urgent, high, normal or low)", p)
		case t.FirstResponse <= 0 || t.Resolution <= 0:
			return domain.Invalidf("sla", "%s: targets must be positive", p)
		case t.FirstResponse > t.Resolution:
			return domain.Invalidf("sla", "%s: the first response (%s) must not be due after the resolution (%s)", p, formatTarget(t.FirstResponse), formatTarget(t.Resolution))
		}
	}
	for _, p := range priorities {
		if _, ok := s[p]; !ok {
			return domain.Invalidf("sla", "has no targets for the priority %q", p)
		}
	}
	return nil
}

func isPriority(p domain.Priority) bool {
	for _, q := range priorities {
		if p == q {
			return true
		}
	}
	return false
}

// String writes the SLA as ParseSLA reads it, most urgent first.
func (s SLA) String() string {
	if s == nil {
		s = DefaultSLA()
	}
	items := make([]string, 0, len(s))
	for p, t := range s {
		items = append(items, fmt.Sprintf("%s=%s/%s", p, formatTarget(t.FirstResponse), formatTarget(t.Resolution)))
	}
	rank := map[string]int{}
	for i, p := range priorities {
		rank[string(p)] = i
	}
	sort.Slice(items, func(i, j int) bool {
		a, _, _ := strings.Cut(items[i], "=")
		b, _, _ := strings.Cut(items[j], "=")
		return rank[a] < rank[b]
	})
	return strings.Join(items, ",")
}

// formatTarget writes d in the largest unit that divides it.
func formatTarget(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{7 * 24 * time.Hour, "w"}, {24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if d%u.d == 0 {
			return fmt.Sprintf("%d%s", d/u.d, u.name)
		}
	}
	return d.String()
}
