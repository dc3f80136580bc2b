package domain

import (
	"cmp"
	"strings"
	"time"
)

// Sorting: a query's sort parameter orders tickets by up to six fields,
// each ascending or, with a leading "-", descending, with the ticket id
// ascending as the final tiebreak, so that the order is total and a page
// or a window is exact. Without one, tickets come in (updated_at, id)
// order, as they always have.
//
// Priorities order by urgency (low < normal < high < urgent: -priority is
// the most urgent first), statuses by the life cycle (new < open < pending
// < on_hold < solved < closed), team and assignee by their bytes (the
// empty assignee, unassigned, first), timestamps by time.

// The query-string parameters of sorting and windows.
const (
	ParamSort   = "sort"
	ParamWindow = "window"
)

// MaxWindow bounds a live window's rows: a window is held by the server
// for every dashboard that asks for one, and a view larger than this is a
// list to page through, not a window.
const MaxWindow = 1000

// SortField is a field tickets can be sorted by.
type SortField uint8

// The fields tickets can be sorted by.
const (
	SortPriority SortField = iota + 1
	SortStatus
	SortCreatedAt
	SortUpdatedAt
	SortTeam
	SortAssignee
)

var sortFieldNames = [...]string{
	SortPriority:  "priority",
	SortStatus:    "status",
	SortCreatedAt: "created_at",
	SortUpdatedAt: "updated_at",
	SortTeam:      "team",
	SortAssignee:  "assignee",
}

// String returns the field's name as the sort parameter spells it.
func (f SortField) String() string {
	if f >= SortPriority && int(f) < len(sortFieldNames) {
		return sortFieldNames[f]
	}
	return "unknown"
}

// SortKey is one field of a sort and its direction.
type SortKey struct {
	Field SortField
	Desc  bool
}

// Sort is an order of tickets: its keys, most significant first, then the
// id ascending. The empty Sort is the default order, (updated_at, id).
type Sort []SortKey

// ParseSort reads the sort parameter: field names separated by commas,
// each optionally prefixed by "-" for descending ("-priority,created_at").
// A field may appear once; "id" is the implicit final tiebreak and may not
// be given.
func ParseSort(s string) (Sort, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > len(sortFieldNames)-1 {
		return nil, Invalidf(ParamSort, "at most %d fields, got %d", len(sortFieldNames)-1, len(parts))
	}
	var out Sort
	for _, p := range parts {
		k := SortKey{}
		if name, ok := strings.CutPrefix(p, "-"); ok {
			k.Desc, p = true, name
		}
		for f := SortPriority; int(f) < len(sortFieldNames); f++ {
			if sortFieldNames[f] == p {
				k.Field = f
			}
		}
		if k.Field == 0 {
			return nil, Invalidf(ParamSort, "unknown field %q (want priority, status, created_at, updated_at, team or assignee, each optionally prefixed by - for descending; the id breaks ties)", truncate(p, 32))
		}
		for _, prev := range out {
			if prev.Field == k.Field {
				return nil, Invalidf(ParamSort, "%s given twice", p)
			}
		}
		out = append(out, k)
	}
	return out, nil
}

// String returns s as the sort parameter spells it; "" for the default.
func (s Sort) String() string {
	var b strings.Builder
	for i, k := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		if k.Desc {
			b.WriteByte('-')
		}
		b.WriteString(k.Field.String())
	}
	return b.String()
}

// Validate reports a Sort that ParseSort would not return.
func (s Sort) Validate() error {
	_, err := ParseSort(s.String())
	if err == nil {
		for _, k := range s {
			if k.Field < SortPriority || int(k.Field) >= len(sortFieldNames) {
				return Invalidf(ParamSort, "unknown field %d", k.Field)
			}
		}
	}
	return err
}

// Keys returns the keys tickets are ordered by, the default order's when s
// is empty; the id follows them.
func (s Sort) Keys() Sort {
	if len(s) == 0 {
		return Sort{{Field: SortUpdatedAt}}
	}
	return s
}

// IsDefault reports whether s orders as the default, (updated_at, id).
func (s Sort) IsDefault() bool {
	return len(s) == 0 || len(s) == 1 && s[0] == SortKey{Field: SortUpdatedAt}
}

// RowKey is what a Sort compares of a ticket: the sortable fields and the
// id. A sorted page's cursor is the RowKey of its last row.
type RowKey struct {
	Priority  Priority
	Status    Status
	CreatedAt time.Time
	UpdatedAt time.Time
	Team      string
	Assignee  string
	ID        int64
}

// KeyOf returns t's RowKey.
func KeyOf(t *Ticket) RowKey {
	return RowKey{Priority: t.Priority, Status: t.Status, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		Team: t.Team, Assignee: t.Assignee, ID: t.ID}
}

// Compare returns -1, 0 or +1 as a sorts before, with or after b in s:
// 0 only for the same id.
func (s Sort) Compare(a, b *RowKey) int {
	for _, k := range s.Keys() {
		if r := compareField(k.Field, a, b); r != 0 {
			if k.Desc {
				return -r
			}
			return r
		}
	}
	return cmp.Compare(a.ID, b.ID)
}

// CompareTickets is Compare of the tickets' keys.
func (s Sort) CompareTickets(a, b *Ticket) int {
	ka, kb := KeyOf(a), KeyOf(b)
	return s.Compare(&ka, &kb)
}

func compareField(f SortField, a, b *RowKey) int {
	switch f {
	case SortPriority:
		return cmp.Compare(PriorityRank(a.Priority), PriorityRank(b.Priority))
	case SortStatus:
		return cmp.Compare(StatusRank(a.Status), StatusRank(b.Status))
	case SortCreatedAt:
		return a.CreatedAt.Compare(b.CreatedAt)
	case SortUpdatedAt:
		return a.UpdatedAt.Compare(b.UpdatedAt)
	case SortTeam:
		return strings.Compare(a.Team, b.Team)
	case SortAssignee:
		return strings.Compare(a.Assignee, b.Assignee)
	}
	return 0
}

// PriorityRank is p's place in Priorities (low 0 … urgent 3); -1 for an
// unknown one.
func PriorityRank(p Priority) int {
	for i, x := range Priorities {
		if x == p {
			return i
		}
	}
	return -1
}

// StatusRank is s's place in Statuses (new 0 … closed 5); -1 for an
// unknown one.
func StatusRank(s Status) int {
	for i, x := range Statuses {
		if x == s {
			return i
		}
	}
	return -1
}
