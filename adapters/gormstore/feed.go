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
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

var _ ports.ChangeFeed = (*Store)(nil)

// The change feed's queries. Each page is read in one read-only transaction
// so that the horizon and the rows come from one snapshot; on PostgreSQL a
// REPEATABLE READ transaction without writes takes no transaction id and so
// holds back no one's horizon. Rows come in (change_pos, id) order, bounded
// by the page's position range and, on PostgreSQL, by the horizon: only
// transactions below pg_snapshot_xmin have all finished.
const (
	pgHorizon     = `pg_snapshot_xmin(pg_current_snapshot())::text::bigint`
	pgChangedSQL  = `SELECT change_pos, ` + pgLeftTeams + `, ` + ticketColumns + ` FROM tickets t WHERE (change_pos, id) > ($1, $2) AND (change_pos, id) <= ($3, $4) AND change_pos < ` + pgHorizon + ` ORDER BY change_pos, id LIMIT $5`
	pgRemovedSQL  = `SELECT change_pos, id, ` + pgLeftTeams + ` FROM ticket_removals t WHERE (change_pos, id) > ($1, $2) AND (change_pos, id) <= ($3, $4) AND change_pos < ` + pgHorizon + ` AND NOT EXISTS (SELECT 1 FROM tickets x WHERE x.id = t.id) ORDER BY change_pos, id LIMIT $5`
	sqlHorizon    = `SELECT last_pos + 1 FROM change_feed_state WHERE id = 1`
	sqlChangedSQL = `SELECT change_pos, ` + ticketColumns + ` FROM tickets t WHERE (change_pos, id) > (?1, ?2) AND (change_pos, id) <= (?3, ?4) ORDER BY change_pos, id LIMIT ?5`
	sqlLeftSQL    = `SELECT change_pos, ` + sqlLeftTeams + `, ` + ticketColumns + ` FROM tickets t WHERE (change_pos, id) > (?1, ?2) AND (change_pos, id) <= (?3, ?4) ORDER BY change_pos, id LIMIT ?5`
	sqlAnyLeftSQL = `SELECT EXISTS (SELECT 1 FROM ticket_departures WHERE change_pos >= ?1 AND change_pos <= ?2)`
	sqlRemovedSQL = `SELECT change_pos, id, ` + sqlLeftTeams + ` FROM ticket_removals t WHERE (change_pos, id) > (?1, ?2) AND (change_pos, id) <= (?3, ?4) AND NOT EXISTS (SELECT 1 FROM tickets x WHERE x.id = t.id) ORDER BY change_pos, id LIMIT ?5`
	resumableSQL  = `SELECT removals_pruned_before FROM change_feed_state WHERE id = 1`

	// The teams ticket t left after the read's start ($6, $7) and at or
	// before its change: one probe of ticket_departures' primary key
	// (id, change_pos, team), and NULL — nothing to decode — when there
	// are none. The start is the whole read's, not the page's: a ticket
	// read on a later page may have left a team during an earlier one. The
	// CASE asks first, once for the page, whether any ticket left a team
	// up to the page's bound ($3): in the common case none did, and the
	// changes cost no probe at all. SQLite's DISTINCT would build a
	// temporary b-tree for every change read: its repeats are dropped when
	// decoded. On SQLite, where a query costs no round trip, the page asks
	// first and reads the tickets without the column when none did.
	pgLeftTeams  = `CASE WHEN (SELECT EXISTS (SELECT 1 FROM ticket_departures WHERE change_pos >= $6 AND change_pos <= $3)) THEN (SELECT array_agg(DISTINCT d.team) FROM ticket_departures d WHERE d.id = t.id AND d.change_pos >= $6 AND (d.change_pos, d.id) > ($6, $7) AND d.change_pos <= t.change_pos) END`
	sqlLeftTeams = `CASE WHEN (SELECT EXISTS (SELECT 1 FROM ticket_departures WHERE change_pos >= ?6 AND change_pos <= ?3)) THEN (SELECT CASE WHEN count(*) > 0 THEN json_group_array(d.team) END FROM ticket_departures d WHERE d.id = t.id AND d.change_pos >= ?6 AND (d.change_pos, d.id) > (?6, ?7) AND d.change_pos <= t.change_pos) END`
)

// changePage is one page of the feed: ticket rows and removals, each in
// position order.
type changePage struct {
	changed []ports.Change
	removed []ports.Change
	horizon uint64
	// changedRows counts the ticket rows read, skipped ones included, and
	// changedLast is the position of the last: a page whose rows were all
	// skipped still moves the read past them.
	changedRows int
	changedLast domain.ChangePos
}

// skipChanged records that the ticket row at pos was read and skipped.
func (p *changePage) skipChanged(pos domain.ChangePos) {
	p.changed = p.changed[:len(p.changed)-1]
	p.changedLast = pos
}

// readChanged records that the ticket row last appended to changed was read.
func (p *changePage) readChanged() {
	p.changedLast = p.changed[len(p.changed)-1].Pos
}

// ReadChanges implements ports.ChangeFeed.
func (s *Store) ReadChanges(ctx context.Context, after, until domain.ChangePos, batchSize int, h ports.ChangeHandler) (domain.ChangePos, error) {
	if batchSize <= 0 {
		batchSize = ports.DefaultBatchSize
	}
	bounded := !until.IsZero()
	if !bounded && s.dialect == SQLite && after.ID == 0 && after.Seq > 0 {
		// The hub's idle poll: SQLite's counter moves with every change, so
		// one single-row read tells whether there is anything to read.
		var horizon int64
		if err := s.sql.QueryRowContext(ctx, sqlHorizon).Scan(&horizon); err != nil {
			return after, fmt.Errorf("read changes: %w", connectionLost(err))
		}
		if uint64(horizon) <= after.Seq {
			return after, nil
		}
	}
	upTo := until
	if !bounded {
		upTo = domain.ChangePos{Seq: math.MaxInt64, ID: math.MaxInt64}
	}
	readFrom := after // departures are reported from here on, whatever the page
	var page changePage
	var merged []ports.Change // made only when a page holds changes: the idle poll allocates none
	first := true
	// horizon is the first page's: every later page of this read is bounded
	// by it, so it is also the position the read reaches. A later page's own
	// horizon may be higher, but what committed between the pages below it
	// was not read, and reporting it would skip those changes for good.
	var horizon uint64
	for {
		start := time.Now()
		err := s.readChangePage(ctx, readFrom, after, upTo, batchSize, &page)
		s.observe(QueryChanges, start, err)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = ctxErr
			}
			return after, fmt.Errorf("read changes: %w", connectionLost(err))
		}
		if first && !bounded {
			// The rest of this read stays below the first page's horizon, so
			// that it ends; later changes are the next read's.
			horizon = page.horizon
			upTo = domain.ChangePos{Seq: horizon - 1, ID: math.MaxInt64}
			if horizon == 0 {
				upTo = domain.ChangePos{}
			}
		}
		first = false
		// A full list may continue past the other's last row: deliver only
		// up to the earlier of the full lists' last positions.
		var bound domain.ChangePos
		full := false
		if page.changedRows == batchSize {
			bound, full = page.changedLast, true
		}
		if l := page.removed; len(l) == batchSize {
			if last := l[len(l)-1].Pos; !full || last.Compare(bound) < 0 {
				bound = last
			}
			full = true
		}
		if merged == nil && len(page.changed)+len(page.removed) > 0 {
			merged = make([]ports.Change, 0, len(page.changed)+len(page.removed))
		}
		merged = mergeChanges(merged[:0], page.changed, page.removed, bound, full)
		if len(merged) > 0 {
			if err := h.HandleChanges(merged); err != nil {
				return after, fmt.Errorf("read changes: %w", err)
			}
			after = merged[len(merged)-1].Pos
		}
		if !full {
			break
		}
		// Everything up to bound was read, delivered or skipped: the next
		// page starts after it even when its last rows were skipped.
		if bound.Compare(after) > 0 {
			after = bound
		}
	}
	if bounded {
		if until.Compare(after) > 0 {
			return until, nil
		}
		return after, nil
	}
	if reached := (domain.ChangePos{Seq: horizon}); horizon > 0 && reached.Compare(after) > 0 {
		return reached, nil
	}
	return after, nil
}

// mergeChanges appends the changes of both lists in position order, only
// those at or before bound when bounded.
func mergeChanges(dst, a, b []ports.Change, bound domain.ChangePos, bounded bool) []ports.Change {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c ports.Change
		if j == len(b) || (i < len(a) && a[i].Pos.Compare(b[j].Pos) < 0) {
			c = a[i]
			i++
		} else {
			c = b[j]
			j++
		}
		if bounded && c.Pos.Compare(bound) > 0 {
			break
		}
		dst = append(dst, c)
	}
	return dst
}

// readChangePage reads up to n changed tickets and n removals positioned in
// (after, upTo] into page, with the horizon of the snapshot they came from
// and the teams each ticket left after readFrom.
func (s *Store) readChangePage(ctx context.Context, readFrom, after, upTo domain.ChangePos, n int, page *changePage) error {
	page.changed, page.removed = page.changed[:0], page.removed[:0]
	page.changedRows, page.changedLast = 0, domain.ChangePos{}
	args := []any{int64(after.Seq), after.ID, int64(upTo.Seq), upTo.ID, n, int64(readFrom.Seq), readFrom.ID}
	if s.dialect == Postgres {
		return s.withPgx(ctx, func(c *pgx.Conn) error {
			// One round trip: the transaction and its three queries go out
			// together. Should one fail, the rest fail too and COMMIT ends
			// the transaction as a rollback.
			b := &pgx.Batch{}
			b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
			b.Queue("SELECT " + pgHorizon)
			b.Queue(pgChangedSQL, args...)
			b.Queue(pgRemovedSQL, args...)
			b.Queue("COMMIT")
			br := c.SendBatch(ctx, b)
			err := s.readChangeBatch(br, c.TypeMap(), page)
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			return err
		})
	}
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

// readChangeBatch reads the results of readChangePage's batch into page,
// decoding with types. A row that does not decode is skipped: pgx's own
// rows.Scan would end the whole result at the first such row.
func (s *Store) readChangeBatch(br pgx.BatchResults, types *pgtype.Map, page *changePage) error {
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var horizon int64
	if err := br.QueryRow().Scan(&horizon); err != nil {
		return fmt.Errorf("horizon: %w", err)
	}
	page.horizon = uint64(horizon)
	rows, err := br.Query()
	if err != nil {
		return err
	}
	for rows.Next() {
		var pos int64
		page.changedRows++
		page.changed = append(page.changed, ports.Change{})
		ch := &page.changed[len(page.changed)-1]
		t := &ch.Ticket
		fields, vals := rows.FieldDescriptions(), rows.RawValues()
		// Most changes leave no team: their NULL is not decoded at all,
		// which costs allocations even for an empty result.
		var left any
		if len(vals) > 1 && vals[1] != nil {
			left = &ch.LeftTeams
		}
		if err := pgx.ScanRow(types, fields, vals, &pos, left, &t.ID, &t.Team, &t.Subject, (*string)(&t.Status), (*string)(&t.Priority),
			&t.Requester, &t.Assignee, &t.Tags, &t.CreatedAt, &t.UpdatedAt); err != nil {
			// The position and id are bigint NOT NULL: if even they do
			// not decode, the result is not what this query asked for.
			key := make([]any, len(vals))
			key[0], key[2] = &pos, &t.ID
			if pgx.ScanRow(types, fields, vals, key...) != nil {
				rows.Close()
				return fmt.Errorf("scan changed ticket: %w", err)
			}
			s.skipRow(QueryChanges, &undecodableRow{id: t.ID, err: err})
			page.skipChanged(domain.ChangePos{Seq: uint64(pos), ID: t.ID})
			continue
		}
		t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
		if err := checkYears(t); err != nil {
			s.skipRow(QueryChanges, &undecodableRow{id: t.ID, err: err})
			page.skipChanged(domain.ChangePos{Seq: uint64(pos), ID: t.ID})
			continue
		}
		ch.Pos = domain.ChangePos{Seq: uint64(pos), ID: t.ID}
		page.readChanged()
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	removed, err := br.Query()
	if err != nil {
		return err
	}
	err = scanRemovals(removed, page, func(dst *[]string) any { return dst })
	removed.Close()
	if err != nil {
		return err
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rowScanner is what pgx.Rows and *sql.Rows share.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanRemovals reads removal rows (change_pos, id, teams left) into page;
// left says how to scan the teams, by dialect.
func scanRemovals(rows rowScanner, page *changePage, left func(*[]string) any) error {
	for rows.Next() {
		var pos, id int64
		var teams []string
		if err := rows.Scan(&pos, &id, left(&teams)); err != nil {
			return fmt.Errorf("scan removal: %w", err)
		}
		page.removed = append(page.removed, ports.Change{Pos: domain.ChangePos{Seq: uint64(pos), ID: id}, Removed: true, Ticket: domain.Ticket{ID: id}, LeftTeams: teams})
	}
	return rows.Err()
}

// Horizon implements ports.ChangeFeed.
func (s *Store) Horizon(ctx context.Context) (domain.ChangePos, error) {
	q := "SELECT " + pgHorizon
	if s.dialect == SQLite {
		q = sqlHorizon
	}
	var h int64
	if err := s.sql.QueryRowContext(ctx, q).Scan(&h); err != nil {
		return domain.ChangePos{}, fmt.Errorf("change feed horizon: %w", connectionLost(err))
	}
	return domain.ChangePos{Seq: uint64(h)}, nil
}

// Frontier implements ports.ChangeFeed. On PostgreSQL it is the next
// transaction id of a snapshot taken now: every transaction a query made
// before could see is below it. SQLite has one writer: its horizon.
func (s *Store) Frontier(ctx context.Context) (domain.ChangePos, error) {
	if s.dialect == SQLite {
		return s.Horizon(ctx)
	}
	var f int64
	if err := s.sql.QueryRowContext(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&f); err != nil {
		return domain.ChangePos{}, fmt.Errorf("change feed frontier: %w", connectionLost(err))
	}
	return domain.ChangePos{Seq: uint64(f)}, nil
}

// Departed implements ports.ChangeFeed.
func (s *Store) Departed(ctx context.Context, after domain.ChangePos, teams []string) ([]int64, error) {
	if len(teams) == 0 {
		return nil, nil
	}
	var rows *sql.Rows
	var err error
	if s.dialect == Postgres {
		rows, err = s.sql.QueryContext(ctx, `SELECT DISTINCT id FROM ticket_departures WHERE (change_pos, id) > ($1, $2) AND team = ANY($3)`,
			int64(after.Seq), after.ID, teams)
	} else {
		args := []any{int64(after.Seq), after.ID}
		marks := make([]string, len(teams))
		for i, t := range teams {
			marks[i] = "?"
			args = append(args, t)
		}
		rows, err = s.sql.QueryContext(ctx, `SELECT DISTINCT id FROM ticket_departures WHERE (change_pos, id) > (?, ?) AND team IN (`+strings.Join(marks, ",")+`)`, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("departures: %w", connectionLost(err))
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("departures: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("departures: %w", connectionLost(err))
	}
	return ids, nil
}

// ResumableAfter implements ports.ChangeFeed.
func (s *Store) ResumableAfter(ctx context.Context) (domain.ChangePos, error) {
	var before int64
	if err := s.sql.QueryRowContext(ctx, resumableSQL).Scan(&before); err != nil {
		return domain.ChangePos{}, fmt.Errorf("change feed retention: %w", connectionLost(err))
	}
	if before <= 0 {
		return domain.ChangePos{}, nil
	}
	// Removals at positions below `before` are gone: a reader must have read
	// past every one of them.
	return domain.ChangePos{Seq: uint64(before) - 1, ID: math.MaxInt64}, nil
}

// OldestWriter implements ports.ChangeFeed. On PostgreSQL transaction ids
// are shared by every database of the server, so a writer in any of them
// counts. SQLite has one writer, whose
// transaction blocks other writers, not readers: it never holds back the feed.
func (s *Store) OldestWriter(ctx context.Context) (ports.Writer, error) {
	if s.dialect != Postgres {
		return ports.Writer{}, nil
	}
	var w ports.Writer
	var ageMS float64
	err := s.sql.QueryRowContext(ctx, `SELECT EXTRACT(EPOCH FROM now() - xact_start) * 1000, pid, application_name, state
		FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
		ORDER BY xact_start LIMIT 1`).Scan(&ageMS, &w.PID, &w.Application, &w.State)
	if errors.Is(err, sql.ErrNoRows) {
		return ports.Writer{}, nil
	}
	if err != nil {
		return ports.Writer{}, fmt.Errorf("oldest writer: %w", err)
	}
	w.Age = time.Duration(ageMS * float64(time.Millisecond))
	return w, nil
}

// DeleteTicket deletes the ticket with the given id, or returns ENotFound.
func (s *Store) DeleteTicket(ctx context.Context, id int64) error {
	q := `DELETE FROM tickets WHERE id = ?`
	if s.dialect == Postgres {
		q = `DELETE FROM tickets WHERE id = $1`
	}
	res, err := s.sql.ExecContext(ctx, q, id)
	if err != nil {
		return fmt.Errorf("delete ticket %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return &domain.Error{Code: domain.ENotFound, Param: "id", Message: fmt.Sprintf("no ticket %d", id)}
	}
	return nil
}
