package domain

import (
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Query is what a dashboard asks for: the tickets that pass every filter,
// after a Cursor, in (updated_at, id) order, at most Limit of them.
//
// Within one filter the values are alternatives (status=open OR pending);
// different filters must all hold. An empty filter does not restrict.
type Query struct {
	Statuses   []Status
	Priorities []Priority
	Teams      []string
	// Assignees lists agents; the empty string in it selects unassigned tickets.
	Assignees []string
	// Search keeps the tickets whose subject or requester contains it (see
	// FoldSearch; kept folded); empty, every ticket.
	Search string
	// Sort orders the tickets (see Sort); empty, (updated_at, id).
	Sort Sort
	// Window, on a live subscription, asks for the first Window tickets in
	// Sort's order, kept exact as tickets change (at most MaxWindow); 0, the
	// whole filter.
	Window int
	After  Cursor // resume after this position; zero means from the start
	// AfterKey, with a Sort, resumes after the ticket of this key in Sort's
	// order (a sorted page's cursor); nil means from the start.
	AfterKey *RowKey
	Limit    int // at most this many tickets; 0 means no limit
	// AsOf, when set, keeps only tickets whose last change is at or before
	// this position of the change feed: the snapshot half of a live
	// subscription, whose later changes arrive live. Set by the server, never
	// parsed from a client.
	AsOf ChangePos
}

// Bounds on a Query, so that one request cannot make a huge SQL statement.
const (
	MaxFilterValues = 64
	MaxLimit        = 10_000_000
)

// The query-string parameters that ParseQuery understands.
const (
	ParamStatus   = "status"
	ParamPriority = "priority"
	ParamTeam     = "team"
	ParamAssignee = "assignee"
	ParamCursor   = "cursor"
	ParamLimit    = "limit"
)

// ParseQueryString parses a raw URL query string strictly: unlike
// net/url's URL.Query, which silently drops a pair it cannot parse (a bad
// %-escape, a semicolon) or every pair past its count limit — and with
// them a filter — it refuses the whole string.
func ParseQueryString(raw string) (url.Values, error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, Invalidf("", "the query string is malformed: %s", truncate(err.Error(), 120))
	}
	return values, nil
}

// ParseQuery builds a Query from URL query parameters, the form shared by the
// REST API and the WebSocket upgrade. A filter accepts repeated parameters and
// comma-separated lists (status=open,pending or status=open&status=pending);
// assignee= with an empty value selects unassigned tickets. Unknown parameters
// are refused so that a typo never silently widens a filter. Every error is an
// EInvalid *Error naming the parameter.
//
// cursors opens the cursor parameter, which must be one it sealed; with a
// nil cursors a cursor is refused.
func ParseQuery(values url.Values, cursors *CursorSealer) (Query, error) {
	for _, key := range slices.Sorted(maps.Keys(values)) {
		switch key {
		case ParamStatus, ParamPriority, ParamTeam, ParamAssignee:
		case ParamCursor, ParamLimit, ParamSearch, ParamSort, ParamWindow:
			if n := len(values[key]); n != 1 {
				return Query{}, Invalidf(key, "give it once, not %d times", n)
			}
		case "":
			return Query{}, Invalidf("", "a parameter has an empty name")
		default:
			return Query{}, &Error{Code: EInvalid, Param: truncate(key, 32),
				Message: "unknown parameter (want status, priority, team, assignee, q, sort, window, cursor or limit)"}
		}
	}
	var q Query
	statuses, err := splitList(ParamStatus, values[ParamStatus])
	if err != nil {
		return Query{}, err
	}
	for _, s := range statuses {
		st, err := ParseStatus(s)
		if err != nil {
			return Query{}, err
		}
		q.Statuses = appendUnique(q.Statuses, st)
	}
	priorities, err := splitList(ParamPriority, values[ParamPriority])
	if err != nil {
		return Query{}, err
	}
	for _, s := range priorities {
		p, err := ParsePriority(s)
		if err != nil {
			return Query{}, err
		}
		q.Priorities = appendUnique(q.Priorities, p)
	}
	teams, err := splitList(ParamTeam, values[ParamTeam])
	if err != nil {
		return Query{}, err
	}
	for _, t := range teams {
		q.Teams = appendUnique(q.Teams, t)
	}
	assignees, err := splitList(ParamAssignee, values[ParamAssignee])
	if err != nil {
		return Query{}, err
	}
	for _, a := range assignees {
		q.Assignees = appendUnique(q.Assignees, a)
	}
	if vals := values[ParamSearch]; len(vals) == 1 {
		q.Search = FoldSearch(vals[0])
	}
	if vals := values[ParamSort]; len(vals) == 1 {
		if q.Sort, err = ParseSort(vals[0]); err != nil {
			return Query{}, err
		}
		if q.Sort.IsDefault() {
			q.Sort = nil
		}
	}
	if vals := values[ParamWindow]; len(vals) == 1 {
		n, err := strconv.Atoi(vals[0])
		if err != nil || n < 1 {
			return Query{}, Invalidf(ParamWindow, "not a whole number from 1 to %d: %q", MaxWindow, truncate(vals[0], 32))
		}
		q.Window = n
	}
	if vals := values[ParamCursor]; len(vals) == 1 {
		if cursors == nil {
			if vals[0] != "" {
				return Query{}, Invalidf(ParamCursor, "not accepted here")
			}
		} else if len(q.Sort) > 0 {
			// A sorted page resumes after the key of its last row, in the
			// sort its cursor was issued for.
			if vals[0] != "" {
				k, err := cursors.OpenSortCursor(vals[0], q.Sort)
				if err != nil {
					return Query{}, err
				}
				q.AfterKey = &k
			}
		} else if q.After, err = cursors.OpenCursor(vals[0]); err != nil {
			return Query{}, err
		}
	}
	if vals := values[ParamLimit]; len(vals) == 1 {
		n, err := strconv.Atoi(vals[0])
		if err != nil {
			return Query{}, Invalidf(ParamLimit, "not a whole number: %q", truncate(vals[0], 32))
		}
		q.Limit = n
	}
	if err := q.Validate(); err != nil {
		return Query{}, err
	}
	return q, nil
}

// Values returns q's filters and limit as URL query parameters that
// ParseQuery reads back into an equal Query. After is left out: only a
// CursorSealer can write a cursor.
func (q Query) Values() url.Values {
	v := url.Values{}
	for _, s := range q.Statuses {
		v.Add(ParamStatus, string(s))
	}
	for _, p := range q.Priorities {
		v.Add(ParamPriority, string(p))
	}
	for _, t := range q.Teams {
		v.Add(ParamTeam, t)
	}
	for _, a := range q.Assignees {
		v.Add(ParamAssignee, a)
	}
	if q.Search != "" {
		v.Set(ParamSearch, q.Search)
	}
	if len(q.Sort) > 0 {
		v.Set(ParamSort, q.Sort.String())
	}
	if q.Window != 0 {
		v.Set(ParamWindow, strconv.Itoa(q.Window))
	}
	if q.Limit != 0 {
		v.Set(ParamLimit, strconv.Itoa(q.Limit))
	}
	return v
}

// Validate checks a Query built in code (or decoded from a client message)
// with the same rules that ParseQuery applies.
func (q Query) Validate() error {
	for _, f := range [...]struct {
		param string
		n     int
	}{{ParamStatus, len(q.Statuses)}, {ParamPriority, len(q.Priorities)}, {ParamTeam, len(q.Teams)}, {ParamAssignee, len(q.Assignees)}} {
		if f.n > MaxFilterValues {
			return Invalidf(f.param, "at most %d values, got %d", MaxFilterValues, f.n)
		}
	}
	for _, s := range q.Statuses {
		if _, err := ParseStatus(string(s)); err != nil {
			return err
		}
	}
	for _, p := range q.Priorities {
		if _, err := ParsePriority(string(p)); err != nil {
			return err
		}
	}
	for _, t := range q.Teams {
		if t == "" {
			return Invalidf(ParamTeam, "a team must not be empty")
		}
		if err := checkName(ParamTeam, t); err != nil {
			return err
		}
	}
	for _, a := range q.Assignees {
		if err := checkName(ParamAssignee, a); err != nil {
			return err
		}
	}
	if err := checkSearch(q.Search); err != nil {
		return err
	}
	if q.Search != FoldSearch(q.Search) {
		return Invalidf(ParamSearch, "must be folded (FoldSearch)")
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return Invalidf(ParamLimit, "must be between 0 and %d, got %d", MaxLimit, q.Limit)
	}
	if !q.After.IsZero() && q.After.ID <= 0 {
		return Invalidf(ParamCursor, "malformed cursor")
	}
	if err := q.Sort.Validate(); err != nil {
		return err
	}
	if q.AfterKey != nil && (len(q.Sort) == 0 || !q.After.IsZero() || q.AfterKey.ID <= 0) {
		return Invalidf(ParamCursor, "malformed cursor")
	}
	switch {
	case q.Window < 0 || q.Window > MaxWindow:
		return Invalidf(ParamWindow, "must be between 1 and %d, got %d", MaxWindow, q.Window)
	case q.Window > 0 && q.Limit > 0:
		return Invalidf(ParamWindow, "a window is its own limit: give window or limit, not both")
	case q.Window > 0 && (!q.After.IsZero() || q.AfterKey != nil):
		return Invalidf(ParamWindow, "a window always starts at its first row: give no cursor")
	}
	return nil
}

// Filters reports whether q has a filter at all (After and Limit are none):
// without one, every ticket passes MatchesFilter.
func (q *Query) Filters() bool {
	return len(q.Statuses)+len(q.Priorities)+len(q.Teams)+len(q.Assignees) > 0 || q.Search != ""
}

// MatchesFilter reports whether t passes every filter of q. It ignores After
// and Limit, which are positions in a stream rather than properties of a ticket.
func (q *Query) MatchesFilter(t *Ticket) bool {
	if len(q.Statuses) > 0 && !slices.Contains(q.Statuses, t.Status) {
		return false
	}
	if len(q.Priorities) > 0 && !slices.Contains(q.Priorities, t.Priority) {
		return false
	}
	if len(q.Teams) > 0 && !slices.Contains(q.Teams, t.Team) {
		return false
	}
	if len(q.Assignees) > 0 && !slices.Contains(q.Assignees, t.Assignee) {
		return false
	}
	return q.matchesSearch(t)
}

// checkName validates a team or agent name used as a filter value.
func checkName(param, s string) error {
	if err := checkText(param, s, MaxNameLen); err != nil {
		return err
	}
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return Invalidf(param, "must not contain control characters")
	}
	return nil
}

// splitList flattens repeated and comma-separated values. It refuses more
// than MaxFilterValues items before building them, so that a hostile query
// string costs no more than its length; empty items are kept for Validate to
// judge (an empty assignee means unassigned, an empty team is an error).
func splitList(param string, vals []string) ([]string, error) {
	n := 0
	for _, v := range vals {
		n += strings.Count(v, ",") + 1
	}
	if n > MaxFilterValues {
		return nil, Invalidf(param, "at most %d values, got %d", MaxFilterValues, n)
	}
	out := make([]string, 0, n)
	for _, v := range vals {
		out = append(out, strings.Split(v, ",")...)
	}
	return out, nil
}

func appendUnique[T comparable](s []T, v T) []T {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// truncate shortens s for an error message so that a hostile 10 MB value is
// never echoed back whole.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
