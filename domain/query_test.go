package domain_test

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func TestParseQuery_Accepts(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t, "test key, sixteen bytes or more")
	cur := domain.Cursor{UpdatedAt: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), ID: 77}
	tests := []struct {
		raw  string
		want domain.Query
	}{
		{"", domain.Query{}},
		{"status=open", domain.Query{Statuses: []domain.Status{"open"}}},
		{"status=open,pending&status=open", domain.Query{Statuses: []domain.Status{"open", "pending"}}},
		{"priority=urgent&priority=high", domain.Query{Priorities: []domain.Priority{"urgent", "high"}}},
		{"team=billing,support", domain.Query{Teams: []string{"billing", "support"}}},
		{"assignee=", domain.Query{Assignees: []string{""}}},
		{"assignee=ana%40example.com&assignee=", domain.Query{Assignees: []string{"ana@example.com", ""}}},
		{"limit=25&cursor=" + sealer.CursorString(cur), domain.Query{Limit: 25, After: cur}},
		{"limit=0", domain.Query{}},
		{"team=%C3%A9quipe", domain.Query{Teams: []string{"équipe"}}},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			t.Parallel()
			vals, err := url.ParseQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := domain.ParseQuery(vals, sealer)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tc.raw, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseQuery(%q) = %+v, want %+v", tc.raw, got, tc.want)
			}
			back, err := domain.ParseQuery(got.Values(), sealer)
			back.After = got.After // Values leaves the cursor to the sealer
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("Values() does not round-trip: %+v, %v", back, err)
			}
		})
	}
}

func TestParseQuery_RefusesNamingTheParameter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		vals  url.Values
		param string
	}{
		{"unknown status", url.Values{"status": {"opne"}}, "status"},
		{"empty status", url.Values{"status": {""}}, "status"},
		{"unknown priority", url.Values{"priority": {"p1"}}, "priority"},
		{"empty team", url.Values{"team": {"billing,"}}, "team"},
		{"team with control character", url.Values{"team": {"bil\nling"}}, "team"},
		{"team too long", url.Values{"team": {strings.Repeat("t", 65)}}, "team"},
		{"team invalid utf-8", url.Values{"team": {"\xff"}}, "team"},
		{"too many teams", url.Values{"team": {strings.Repeat("a,", 64) + "a"}}, "team"},
		{"10 MB of statuses", url.Values{"status": {strings.Repeat("open,", 2<<20)}}, "status"},
		{"bad cursor", url.Values{"cursor": {"xyz"}}, "cursor"},
		{"two cursors", url.Values{"cursor": {"", ""}}, "cursor"},
		{"limit not a number", url.Values{"limit": {"ten"}}, "limit"},
		{"negative limit", url.Values{"limit": {"-1"}}, "limit"},
		{"huge limit", url.Values{"limit": {"99999999999999999999"}}, "limit"},
		{"limit over the maximum", url.Values{"limit": {"10000001"}}, "limit"},
		{"sql in a parameter name", url.Values{"status;DROP TABLE tickets": {"x"}}, "status;DROP TABLE tickets"},
		{"typo in a parameter name", url.Values{"stauts": {"open"}}, "stauts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := domain.ParseQuery(tc.vals, testSealer(t, "test key, sixteen bytes or more"))
			var derr *domain.Error
			if !errors.As(err, &derr) || derr.Code != domain.EInvalid {
				t.Fatalf("ParseQuery = %v, want an EInvalid error", err)
			}
			if derr.Param != tc.param && !strings.HasPrefix(tc.param, derr.Param) {
				t.Fatalf("error names %q, want %q", derr.Param, tc.param)
			}
			if len(derr.Error()) > 300 {
				t.Fatalf("error message is %d bytes long: hostile input must not be echoed whole", len(derr.Error()))
			}
		})
	}
}

func TestQuery_MatchesFilter(t *testing.T) {
	t.Parallel()
	tk := domain.Ticket{Team: "billing", Status: "open", Priority: "high", Assignee: ""}
	tests := []struct {
		q    domain.Query
		want bool
	}{
		{domain.Query{}, true},
		{domain.Query{Statuses: []domain.Status{"open", "new"}}, true},
		{domain.Query{Statuses: []domain.Status{"closed"}}, false},
		{domain.Query{Priorities: []domain.Priority{"high"}, Teams: []string{"billing"}}, true},
		{domain.Query{Priorities: []domain.Priority{"high"}, Teams: []string{"support"}}, false},
		{domain.Query{Assignees: []string{""}}, true},
		{domain.Query{Assignees: []string{"ana"}}, false},
	}
	for _, tc := range tests {
		if got := tc.q.MatchesFilter(&tk); got != tc.want {
			t.Errorf("%+v.MatchesFilter = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	sealer := testSealer(f, "fuzz key, sixteen bytes or more")
	f.Add("team=billing&cursor=" + sealer.CursorString(domain.Cursor{UpdatedAt: time.Unix(1700000000, 0), ID: 3}))
	f.Add("status=open,pending&priority=urgent&team=billing&assignee=&limit=10")
	f.Add("cursor=AQAAAAAAAAAAAAAAAAAAAAAAAAAB&limit=1")
	f.Add("team=%ff&status=%00")
	f.Add("status=open;DROP TABLE tickets--")
	f.Add("limit=1e9&limit=2")
	sortKey := domain.RowKey{Priority: domain.PriorityUrgent, CreatedAt: time.Unix(1700000000, 0).UTC(), ID: 8}
	f.Add("sort=-priority,created_at&limit=5&cursor=" + sealer.SortCursorString(domain.Sort{{Field: domain.SortPriority, Desc: true}, {Field: domain.SortCreatedAt}}, &sortKey))
	f.Add("sort=priority&cursor=" + sealer.SortCursorString(domain.Sort{{Field: domain.SortPriority, Desc: true}, {Field: domain.SortCreatedAt}}, &sortKey))
	f.Add("sort=team,-assignee&window=20&q=refund")
	f.Fuzz(func(t *testing.T, raw string) {
		vals, err := domain.ParseQueryString(raw) // the path every request takes
		if err != nil {
			if domain.ErrorCode(err) != domain.EInvalid {
				t.Fatalf("ParseQueryString(%q) = %v, want an EInvalid error", raw, err)
			}
			return
		}
		q, err := domain.ParseQuery(vals, sealer)
		if err != nil {
			var derr *domain.Error
			_, emptyKey := vals[""]
			if !errors.As(err, &derr) || derr.Code != domain.EInvalid || (derr.Param == "" && !emptyKey) {
				t.Fatalf("ParseQuery(%q) = %v, want an EInvalid error naming a parameter", raw, err)
			}
			return
		}
		if err := q.Validate(); err != nil {
			t.Fatalf("ParseQuery(%q) returned a query that fails Validate: %v", raw, err)
		}
		back, err := domain.ParseQuery(q.Values(), sealer)
		back.After, back.AfterKey = q.After, q.AfterKey // Values leaves the cursor to the sealer
		if err != nil || !reflect.DeepEqual(back, q) {
			t.Fatalf("Values of %+v does not parse back: %+v, %v", q, back, err)
		}
	})
}

func TestParseQueryString_RefusesWhatNetURLWouldDrop(t *testing.T) {
	tests := []struct {
		raw string
		ok  bool
	}{
		{"status=open&team=billing", true},
		{"", true},
		{"status=%zz", false},                           // URL.Query drops the pair: the filter would widen
		{"status=open;team=billing", false},             // semicolons are not separators
		{strings.Repeat("status=open&", 10_001), false}, // past net/url's count limit, URL.Query drops every pair
	}
	for _, tc := range tests {
		v, err := domain.ParseQueryString(tc.raw)
		if (err == nil) != tc.ok {
			t.Errorf("ParseQueryString(%.40q) = %v, %v; want ok %v", tc.raw, v, err, tc.ok)
		}
		if err != nil && domain.ErrorCode(err) != domain.EInvalid {
			t.Errorf("error %v is not EInvalid", err)
		}
	}
}
