package gormstore

import (
	"fmt"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// undecodableRow is a ticket row that was read but cannot be decoded into a
// ticket: a value of the wrong type, written by another program into an
// SQLite column that did not check it, or a PostgreSQL value the domain
// has no place for (a NULL tag). Reads skip such a row — logged and counted,
// see skipRow — instead of failing: one bad row must not stop every
// dashboard's snapshot and live updates until someone fixes it.
type undecodableRow struct {
	id  int64 // the row's ticket id
	err error // why it cannot be decoded
}

func (e *undecodableRow) Error() string {
	return fmt.Sprintf("ticket %d cannot be decoded: %v", e.id, e.err)
}

func (e *undecodableRow) Unwrap() error { return e.err }

// checkYears refuses a ticket whose timestamps are outside the years 1 to
// 9999 that tickets and cursors carry (domain.Ticket.Validate): PostgreSQL
// takes the year 10000 or 1 BC and SQLite any integer, but no client could
// be sent the year 10000, and a snapshot, whose keyset starts in the year
// 1, never reads what is before it — so the feed must not send it either.
func checkYears(t *domain.Ticket) error {
	for _, at := range [2]time.Time{t.CreatedAt, t.UpdatedAt} {
		if y := at.Year(); y < 1 || y > 9999 {
			return fmt.Errorf("timestamp %s is outside the years 1 to 9999 that tickets carry", at.Format(time.RFC3339))
		}
	}
	return nil
}

// skipRow logs and counts a row that a read of kind (QuerySnapshot,
// QueryChanges) left out. The row stays skipped, by every read that
// meets it, until it is rewritten with values of the right types.
func (s *Store) skipRow(kind string, row *undecodableRow) {
	s.log.Warn("skipped a ticket row that cannot be decoded: rewrite it with values of the right types",
		"kind", kind, "id", row.id, "err", row.err)
	if s.obs != nil {
		s.obs.RowSkipped(kind)
	}
}
