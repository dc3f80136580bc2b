package gormstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// The change feed's queries on SQLite. Each page is read in one read-only
// transaction (one WAL snapshot) so that the horizon and the rows agree.
// Rows come in (change_pos, id) order, bounded by the page's position
// range.
const (
	sqlHorizon    = `SELECT last_pos + 1 FROM change_feed_state WHERE id = 1`
	sqlChangedSQL = `SELECT change_pos, ` + ticketColumns + ` FROM tickets t WHERE (change_pos, id) > (?1, ?2) AND (change_pos, id) <= (?3, ?4) ORDER BY change_pos, id LIMIT ?5`
	sqlLeftSQL    = `SELECT change_pos, ` + sqlLeftTeams + `, ` + ticketColumns + ` FROM tickets t WHERE (change_pos, id) > (?1, ?2) AND (change_pos, id) <= (?3, ?4) ORDER BY change_pos, id LIMIT ?5`
	sqlAnyLeftSQL = `SELECT EXISTS (SELECT 1 FROM ticket_departures WHERE change_pos >= ?1 AND change_pos <= ?2)`
	sqlRemovedSQL = `SELECT change_pos, id, ` + sqlLeftTeams + ` FROM ticket_removals t WHERE (change_pos, id) > (?1, ?2) AND (change_pos, id) <= (?3, ?4) AND NOT EXISTS (SELECT 1 FROM tickets x WHERE x.id = t.id) ORDER BY change_pos, id LIMIT ?5`

	// The teams ticket t left after the read's start (?6, ?7) and at or
	// before its change, as a JSON array, and NULL when there are none;
	// the CASE asks first, once for the page, whether any ticket left a
	// team up to the page's bound (?3). DISTINCT would build a temporary
	// b-tree for every change read: its repeats are dropped when decoded.
	// Where a query costs no round trip, the page asks first and reads the
	// tickets without the column when none did.
	sqlLeftTeams = `CASE WHEN (SELECT EXISTS (SELECT 1 FROM ticket_departures WHERE change_pos >= ?6 AND change_pos <= ?3)) THEN (SELECT CASE WHEN count(*) > 0 THEN json_group_array(d.team) END FROM ticket_departures d WHERE d.id = t.id AND d.change_pos >= ?6 AND (d.change_pos, d.id) > (?6, ?7) AND d.change_pos <= t.change_pos) END`
)

// unchangedAfter is the idle poll's one single-row read: SQLite's counter
// moves with every change, so it tells whether there is anything to read.
func (s *sqliteEngine) unchangedAfter(ctx context.Context, after domain.ChangePos) (bool, error) {
	var horizon int64
	if err := s.sql.QueryRowContext(ctx, sqlHorizon).Scan(&horizon); err != nil {
		return false, err
	}
	return uint64(horizon) <= after.Seq, nil
}

// readChangePage reads a page of the change feed in one read transaction.
func (s *sqliteEngine) readChangePage(ctx context.Context, readFrom, after, upTo domain.ChangePos, n int, page *changePage) error {
	page.changed, page.removed = page.changed[:0], page.removed[:0]
	page.changedRows, page.changedLast = 0, domain.ChangePos{}
	args := []any{int64(after.Seq), after.ID, int64(upTo.Seq), upTo.ID, n, int64(readFrom.Seq), readFrom.ID}
	tx, err := s.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	var horizon int64
	if err := tx.QueryRowContext(ctx, sqlHorizon).Scan(&horizon); err != nil {
		return fmt.Errorf("horizon: %w", err)
	}
	page.horizon = uint64(horizon)
	var anyLeft bool
	if err := tx.QueryRowContext(ctx, sqlAnyLeftSQL, int64(readFrom.Seq), int64(upTo.Seq)).Scan(&anyLeft); err != nil {
		return fmt.Errorf("departures: %w", err)
	}
	q, lead := sqlChangedSQL, 1
	if anyLeft {
		q, lead = sqlLeftSQL, 2
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	var sc sqliteScanner
	var left []byte
	leadCols := [2]any{nil, &left}
	for rows.Next() {
		page.changedRows++
		page.changed = append(page.changed, ports.Change{})
		ch := &page.changed[len(page.changed)-1]
		var pos int64
		leadCols[0] = &pos
		err := sc.scan(rows, &ch.Ticket, leadCols[:lead]...)
		if err == nil && anyLeft {
			ch.LeftTeams, err = decodeLeftTeams(left)
		}
		var bad *undecodableRow
		if errors.As(err, &bad) {
			s.skipRow(QueryChanges, bad)
			page.skipChanged(domain.ChangePos{Seq: uint64(pos), ID: bad.id})
			continue
		}
		if err != nil {
			rows.Close()
			return err
		}
		ch.Pos = domain.ChangePos{Seq: uint64(pos), ID: ch.Ticket.ID}
		page.readChanged()
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	rrows, err := tx.QueryContext(ctx, sqlRemovedSQL, args...)
	if err != nil {
		return err
	}
	defer rrows.Close()
	return scanRemovals(rrows, page, func(dst *[]string) any { return (*leftTeamsJSON)(dst) })
}

// decodeLeftTeams decodes SQLite's JSON array of the teams a ticket left;
// NULL (none) is nil.
func decodeLeftTeams(js []byte) ([]string, error) {
	if js == nil {
		return nil, nil
	}
	var teams []string
	if err := json.Unmarshal(js, &teams); err != nil {
		return nil, fmt.Errorf("teams left: %w", err)
	}
	slices.Sort(teams)
	return slices.Compact(teams), nil
}

// leftTeamsJSON scans SQLite's JSON array of the teams a ticket left.
type leftTeamsJSON []string

// Scan implements sql.Scanner.
func (l *leftTeamsJSON) Scan(v any) error {
	var js []byte
	switch v := v.(type) {
	case nil:
	case []byte:
		js = v
	case string:
		js = []byte(v)
	default:
		return fmt.Errorf("teams left: unexpected %T", v)
	}
	teams, err := decodeLeftTeams(js)
	*l = teams
	return err
}

// horizon is the next position the counter gives.
func (s *sqliteEngine) horizon(ctx context.Context) (int64, error) {
	var h int64
	err := s.sql.QueryRowContext(ctx, sqlHorizon).Scan(&h)
	return h, err
}

// frontier is the horizon: SQLite has one writer.
func (s *sqliteEngine) frontier(ctx context.Context) (domain.ChangePos, error) {
	return s.Horizon(ctx)
}

// departed lists the tickets that left one of teams after `after`.
func (s *sqliteEngine) departed(ctx context.Context, after domain.ChangePos, teams []string) (*sql.Rows, error) {
	args := []any{int64(min(after.Seq, math.MaxInt64)), after.ID}
	marks := make([]string, len(teams))
	for i, t := range teams {
		marks[i] = fmt.Sprintf("?%d", i+3)
		args = append(args, t)
	}
	return s.sql.QueryContext(ctx, `SELECT DISTINCT id FROM ticket_departures WHERE (change_pos, id) > (?1, ?2) AND team IN (`+strings.Join(marks, ",")+`)`, args...)
}

// oldestWriter is none: SQLite has one writer, whose transaction blocks
// other writers, not readers, and never holds back the feed.
func (*sqliteEngine) oldestWriter(context.Context) (ports.Writer, error) {
	return ports.Writer{}, nil
}

// The tickets changed after a position, for a dashboard that resumes from
// it: see ChangedSince.
const (
	sqlChangedSinceSQL = `SELECT id, team FROM tickets WHERE (change_pos, id) > (?, ?)`
	sqlDeletedSinceSQL = `SELECT DISTINCT id FROM ticket_removals r WHERE (change_pos, id) > (?, ?) AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = r.id)`
)

func (*sqliteEngine) changedSinceSQL() (changed, deleted string) {
	return sqlChangedSinceSQL, sqlDeletedSinceSQL
}

// snapshotTx is a read transaction, to which WAL gives one snapshot.
func (*sqliteEngine) snapshotTx() *sql.TxOptions {
	return &sql.TxOptions{ReadOnly: true}
}
