package domain_test

import (
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func TestParseSort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want domain.Sort
		err  bool
	}{
		{in: "", want: nil},
		{in: "priority", want: domain.Sort{{Field: domain.SortPriority}}},
		{in: "-priority,created_at", want: domain.Sort{{Field: domain.SortPriority, Desc: true}, {Field: domain.SortCreatedAt}}},
		{in: "team,assignee,status,-updated_at,created_at,priority", want: domain.Sort{{Field: domain.SortTeam}, {Field: domain.SortAssignee}, {Field: domain.SortStatus}, {Field: domain.SortUpdatedAt, Desc: true}, {Field: domain.SortCreatedAt}, {Field: domain.SortPriority}}},
		{in: "id", err: true},
		{in: "priority,priority", err: true},
		{in: "priority,-priority", err: true},
		{in: "--priority", err: true},
		{in: "priority,", err: true},
		{in: ",", err: true},
		{in: "Priority", err: true},
		{in: "team,assignee,status,updated_at,created_at,priority,team", err: true},
	} {
		got, err := domain.ParseSort(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseSort(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			if domain.ErrorCode(err) != domain.EInvalid {
				t.Errorf("ParseSort(%q): %v is not EInvalid", tc.in, err)
			}
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ParseSort(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("ParseSort(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestSortCompare(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2026, 1, 1, 0, min, 0, 0, time.UTC) }
	tickets := []domain.Ticket{
		{ID: 1, Priority: domain.PriorityLow, Status: domain.StatusClosed, Team: "b", Assignee: "", CreatedAt: at(1), UpdatedAt: at(9)},
		{ID: 2, Priority: domain.PriorityUrgent, Status: domain.StatusNew, Team: "a", Assignee: "zed", CreatedAt: at(2), UpdatedAt: at(8)},
		{ID: 3, Priority: domain.PriorityUrgent, Status: domain.StatusOpen, Team: "a", Assignee: "amy", CreatedAt: at(2), UpdatedAt: at(7)},
		{ID: 4, Priority: domain.PriorityNormal, Status: domain.StatusOnHold, Team: "c", Assignee: "amy", CreatedAt: at(0), UpdatedAt: at(7)},
	}
	for _, tc := range []struct {
		sort string
		want []int64
	}{
		{"", []int64{3, 4, 2, 1}},
		{"-priority,created_at", []int64{2, 3, 4, 1}},
		{"priority", []int64{1, 4, 2, 3}},
		{"status", []int64{2, 3, 4, 1}},
		{"-status", []int64{1, 4, 3, 2}},
		{"assignee,-created_at", []int64{1, 3, 4, 2}},
		{"team,-updated_at", []int64{2, 3, 1, 4}},
		{"-updated_at", []int64{1, 2, 3, 4}},
	} {
		s, err := domain.ParseSort(tc.sort)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(tickets)
		slices.SortFunc(got, func(a, b domain.Ticket) int { return s.CompareTickets(&a, &b) })
		var ids []int64
		for _, tk := range got {
			ids = append(ids, tk.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("sort=%s: %v, want %v", tc.sort, ids, tc.want)
		}
	}
}

func TestParseQuery_SortAndWindow(t *testing.T) {
	for _, tc := range []struct {
		query string
		err   string // the parameter refused, or ""
	}{
		{"sort=-priority&window=50", ""},
		{"window=1000", ""},
		{"window=1001", domain.ParamWindow},
		{"window=0", domain.ParamWindow},
		{"window=-3", domain.ParamWindow},
		{"window=x", domain.ParamWindow},
		{"window=5&limit=5", domain.ParamWindow},
		{"sort=bogus", domain.ParamSort},
		{"sort=a&sort=b", domain.ParamSort},
		{"window=1&window=2", domain.ParamWindow},
	} {
		v, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := domain.ParseQuery(v, nil)
		var param string
		if err != nil {
			var de *domain.Error
			if errors.As(err, &de) {
				param = de.Param
			}
		}
		if param != tc.err || (err != nil) != (tc.err != "") {
			t.Errorf("%s: error %v, want one for %q", tc.query, err, tc.err)
			continue
		}
		if err == nil {
			back, err := domain.ParseQuery(q.Values(), nil)
			if err != nil || back.Sort.String() != q.Sort.String() || back.Window != q.Window {
				t.Errorf("%s: Values round trip gave %+v, %v", tc.query, back, err)
			}
		}
	}
	// sort=updated_at is the default order: its cursors are the default's.
	q, err := domain.ParseQuery(url.Values{"sort": {"updated_at"}}, nil)
	if err != nil || q.Sort != nil {
		t.Errorf("sort=updated_at gave %v, %v; want the default order", q.Sort, err)
	}
}
