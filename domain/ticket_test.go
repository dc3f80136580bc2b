package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

func validTicket() domain.Ticket {
	t0 := time.Date(2025, 10, 1, 9, 0, 0, 0, time.UTC)
	return domain.Ticket{
		ID: 1, Team: "billing", Subject: "Refund", Status: domain.StatusOpen, Priority: domain.PriorityHigh,
		Requester: "ana@example.com", Tags: []string{"refund"}, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour),
	}
}

func TestTicket_Validate(t *testing.T) {
	t.Parallel()
	if err := (&domain.Ticket{}).Validate(); err == nil {
		t.Fatal("the zero ticket passed validation")
	}
	ok := validTicket()
	if err := ok.Validate(); err != nil {
		t.Fatalf("a valid ticket failed: %v", err)
	}
	tests := []struct {
		param string
		edit  func(*domain.Ticket)
	}{
		{"id", func(t *domain.Ticket) { t.ID = 0 }},
		{"team", func(t *domain.Ticket) { t.Team = "" }},
		{"subject", func(t *domain.Ticket) { t.Subject = "" }},
		{"status", func(t *domain.Ticket) { t.Status = "opne" }},
		{"priority", func(t *domain.Ticket) { t.Priority = "p0" }},
		{"requester", func(t *domain.Ticket) { t.Requester = "" }},
		{"tags", func(t *domain.Ticket) { t.Tags = make([]string, 17) }},
		{"tags", func(t *domain.Ticket) { t.Tags = []string{""} }},
		{"created_at", func(t *domain.Ticket) { t.CreatedAt = time.Time{} }},
		{"updated_at", func(t *domain.Ticket) { t.UpdatedAt = t.CreatedAt.Add(-time.Second) }},
		{"subject", func(t *domain.Ticket) { t.Subject = strings.Repeat("s", 1025) }},
		{"subject", func(t *domain.Ticket) { t.Subject = "nul\x00byte" }},
		{"assignee", func(t *domain.Ticket) { t.Assignee = "\xff" }},
	}
	for _, tc := range tests {
		tk := validTicket()
		tc.edit(&tk)
		var derr *domain.Error
		if err := tk.Validate(); !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param != tc.param {
			t.Errorf("Validate of a ticket with a bad %s = %v", tc.param, err)
		}
	}
}

func TestParseStatusAndPriority(t *testing.T) {
	t.Parallel()
	for _, s := range domain.Statuses {
		if got, err := domain.ParseStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
	}
	for _, p := range domain.Priorities {
		if got, err := domain.ParsePriority(string(p)); err != nil || got != p {
			t.Errorf("ParsePriority(%q) = %q, %v", p, got, err)
		}
	}
	for _, bad := range []string{"", "Open", "OPEN", "open ", "closed;--"} {
		if _, err := domain.ParseStatus(bad); domain.ErrorCode(err) != domain.EInvalid {
			t.Errorf("ParseStatus(%q) = %v, want EInvalid", bad, err)
		}
		if _, err := domain.ParsePriority(bad); domain.ErrorCode(err) != domain.EInvalid {
			t.Errorf("ParsePriority(%q) = %v, want EInvalid", bad, err)
		}
	}
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	wrapped := errors.Join(errors.New("context"), domain.Invalidf("limit", "bad"))
	tests := []struct {
		err  error
		want domain.Code
	}{
		{nil, ""},
		{errors.New("disk on fire"), domain.EInternal},
		{&domain.Error{Code: domain.ENotFound, Message: "no ticket 5"}, domain.ENotFound},
		{wrapped, domain.EInvalid},
	}
	for _, tc := range tests {
		if got := domain.ErrorCode(tc.err); got != tc.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
