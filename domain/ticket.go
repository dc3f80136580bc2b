package domain

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Status is where a ticket stands in its life cycle.
type Status string

// The statuses a ticket can have, in the order a ticket usually moves through them.
const (
	StatusNew     Status = "new"
	StatusOpen    Status = "open"
	StatusPending Status = "pending"
	StatusOnHold  Status = "on_hold"
	StatusSolved  Status = "solved"
	StatusClosed  Status = "closed"
)

// Statuses lists every valid Status in life-cycle order.
var Statuses = []Status{StatusNew, StatusOpen, StatusPending, StatusOnHold, StatusSolved, StatusClosed}

// ParseStatus returns the Status named s, or an EInvalid error.
func ParseStatus(s string) (Status, error) {
	st := Status(s)
	if !st.Valid() {
		return "", Invalidf("status", "unknown status %q (want one of new, open, pending, on_hold, solved, closed)", truncate(s, 32))
	}
	return st, nil
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusNew, StatusOpen, StatusPending, StatusOnHold, StatusSolved, StatusClosed:
		return true
	}
	return false
}

// Priority is how urgently a ticket needs an answer.
type Priority string

// The priorities a ticket can have, from least to most urgent.
const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

// Priorities lists every valid Priority from least to most urgent.
var Priorities = []Priority{PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent}

// ParsePriority returns the Priority named s, or an EInvalid error.
func ParsePriority(s string) (Priority, error) {
	p := Priority(s)
	if !p.Valid() {
		return "", Invalidf("priority", "unknown priority %q (want one of low, normal, high, urgent)", truncate(s, 32))
	}
	return p, nil
}

// Valid reports whether p is one of Priorities.
func (p Priority) Valid() bool {
	switch p {
	case PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent:
		return true
	}
	return false
}

// Ticket is one support request as a dashboard shows it.
//
// Its JSON form (the field tags) is the wire format of every adapter; the
// core's encoder reproduces encoding/json's output for it byte for byte.
// Timestamps are in UTC; an empty Assignee means unassigned.
type Ticket struct {
	ID        int64     `json:"id"`
	Team      string    `json:"team"`
	Subject   string    `json:"subject"`
	Status    Status    `json:"status"`
	Priority  Priority  `json:"priority"`
	Requester string    `json:"requester"`
	Assignee  string    `json:"assignee"`
	Tags      []string  `json:"tags"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Limits on ticket fields, enforced by Validate. They keep one row far below
// the core's chunk threshold and the database's index limits.
const (
	MaxNameLen    = 64   // team, requester, assignee, tag
	MaxSubjectLen = 1024 // subject
	MaxTags       = 16
)

// Cursor returns the position of t in the stable (updated_at, id) order.
func (t *Ticket) Cursor() Cursor {
	return Cursor{UpdatedAt: t.UpdatedAt, ID: t.ID}
}

// Validate reports the first field of t that a writer must not store.
func (t *Ticket) Validate() error {
	switch {
	case t.ID <= 0:
		return Invalidf("id", "must be positive, got %d", t.ID)
	case t.Team == "":
		return Invalidf("team", "must not be empty")
	case t.Subject == "":
		return Invalidf("subject", "must not be empty")
	case !t.Status.Valid():
		_, err := ParseStatus(string(t.Status))
		return err
	case !t.Priority.Valid():
		_, err := ParsePriority(string(t.Priority))
		return err
	case t.Requester == "":
		return Invalidf("requester", "must not be empty")
	case len(t.Tags) > MaxTags:
		return Invalidf("tags", "at most %d tags, got %d", MaxTags, len(t.Tags))
	case t.CreatedAt.IsZero() || t.UpdatedAt.IsZero():
		return Invalidf("created_at", "timestamps must be set")
	case t.UpdatedAt.Before(t.CreatedAt):
		return Invalidf("updated_at", "must not be before created_at")
	case t.UpdatedAt.Year() > 9999 || t.CreatedAt.Year() < 1:
		return Invalidf("updated_at", "year outside [1, 9999]")
	}
	for _, f := range [...]struct{ param, value string }{{"team", t.Team}, {"requester", t.Requester}, {"assignee", t.Assignee}} {
		if err := checkText(f.param, f.value, MaxNameLen); err != nil {
			return err
		}
	}
	if err := checkText("subject", t.Subject, MaxSubjectLen); err != nil {
		return err
	}
	for _, tag := range t.Tags {
		if tag == "" {
			return Invalidf("tags", "a tag must not be empty")
		}
		if err := checkText("tags", tag, MaxNameLen); err != nil {
			return err
		}
	}
	return nil
}

// checkText refuses strings that are too long, not valid UTF-8, or hold a
// NUL byte (which PostgreSQL's text type cannot store).
func checkText(param, s string, maxLen int) error {
	if len(s) > maxLen {
		return Invalidf(param, "at most %d bytes, got %d", maxLen, len(s))
	}
	if !utf8.ValidString(s) {
		return Invalidf(param, "must be valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Invalidf(param, "must not contain NUL bytes")
	}
	return nil
}
