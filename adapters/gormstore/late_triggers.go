package gormstore

import (
	"context"
	"fmt"
)

// lateTriggersSQL lists the enabled BEFORE UPDATE row triggers on tickets
// that fire after the change feed's (migrations 00010, 00015): PostgreSQL
// fires a table's triggers of one kind in the byte order of their names (C
// collation). tgtype's bits: 1 row, 2 before, 16 update.
const lateTriggersSQL = `SELECT tgname FROM pg_trigger
WHERE tgrelid = 'tickets'::regclass AND NOT tgisinternal AND tgenabled <> 'D'
  AND tgtype & (1 | 2 | 16) = (1 | 2 | 16)
  AND tgname::text COLLATE "C" > 'zz_ticketstream_stamp'
ORDER BY tgname::text COLLATE "C"`

// LateTriggers returns the BEFORE UPDATE triggers of other programs on
// tickets that fire after the change feed's, on PostgreSQL (none on
// SQLite). What such a trigger changes, the feed's triggers have not seen:
// a team it sets is no departure, and a row only it changes is not
// stamped, so that change reaches dashboards with the ticket's next one.
func (s *Store) LateTriggers(ctx context.Context) ([]string, error) {
	if s.Dialect() != Postgres {
		return nil, nil
	}
	rows, err := s.sql.QueryContext(ctx, lateTriggersSQL)
	if err != nil {
		return nil, fmt.Errorf("list the triggers on tickets: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list the triggers on tickets: %w", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the triggers on tickets: %w", err)
	}
	return names, nil
}

// warnLateTriggers logs, at start, each trigger LateTriggers finds.
func (s *Store) warnLateTriggers(ctx context.Context) {
	names, err := s.LateTriggers(ctx)
	if err != nil {
		s.log.Warn("could not check the order of the triggers on tickets", "err", err)
		return
	}
	for _, name := range names {
		s.log.Warn("a BEFORE UPDATE trigger on tickets fires after the change feed's: a team it sets is not recorded as a departure (a dashboard of the old team that resumes may keep the ticket), and a change only it makes reaches dashboards with the ticket's next change; rename it to sort before zz_ticketstream_stamp (PostgreSQL fires triggers in the byte order of their names)",
			"trigger", name)
	}
}
