package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// The change feed's queries on PostgreSQL. Each page is read in one
// read-only transaction so that the horizon and the rows come from one
// snapshot; a REPEATABLE READ transaction without writes takes no
// transaction id and so holds back no one's horizon. Rows come in
// (change_pos, id) order, bounded by the page's position range and by the
// horizon: only transactions below pg_snapshot_xmin have all finished.
const (
	pgHorizon    = `pg_snapshot_xmin(pg_current_snapshot())::text::bigint`
	pgChangedSQL = `SELECT change_pos, ` + pgLeftTeams + `, ` + ticketColumns + ` FROM tickets t WHERE (change_pos, id) > ($1, $2) AND (change_pos, id) <= ($3, $4) AND change_pos < ` + pgHorizon + ` ORDER BY change_pos, id LIMIT $5`
	pgRemovedSQL = `SELECT change_pos, id, ` + pgLeftTeams + ` FROM ticket_removals t WHERE (change_pos, id) > ($1, $2) AND (change_pos, id) <= ($3, $4) AND change_pos < ` + pgHorizon + ` AND NOT EXISTS (SELECT 1 FROM tickets x WHERE x.id = t.id) ORDER BY change_pos, id LIMIT $5`

	// The teams ticket t left after the read's start ($6, $7) and at or
	// before its change: one probe of ticket_departures' primary key
	// (id, change_pos, team), and NULL — nothing to decode — when there
	// are none. The start is the whole read's, not the page's: a ticket
	// read on a later page may have left a team during an earlier one. The
	// CASE asks first, once for the page, whether any ticket left a team
	// up to the page's bound ($3): in the common case none did, and the
	// changes cost no probe at all.
	pgLeftTeams = `CASE WHEN (SELECT EXISTS (SELECT 1 FROM ticket_departures WHERE change_pos >= $6 AND change_pos <= $3)) THEN (SELECT array_agg(DISTINCT d.team) FROM ticket_departures d WHERE d.id = t.id AND d.change_pos >= $6 AND (d.change_pos, d.id) > ($6, $7) AND d.change_pos <= t.change_pos) END`
)

// unchangedAfter cannot tell without reading: PostgreSQL's horizon moves
// with every transaction of the server, not only with this feed's changes.
func (*postgresEngine) unchangedAfter(context.Context, domain.ChangePos) (bool, error) {
	return false, nil
}

// readChangePage reads a page of the change feed in one REPEATABLE READ
// READ ONLY transaction, sent with its queries in one pgx batch.
func (s *postgresEngine) readChangePage(ctx context.Context, readFrom, after, upTo domain.ChangePos, n int, page *changePage) error {
	page.changed, page.removed = page.changed[:0], page.removed[:0]
	page.changedRows, page.changedLast = 0, domain.ChangePos{}
	args := []any{int64(after.Seq), after.ID, int64(upTo.Seq), upTo.ID, n, int64(readFrom.Seq), readFrom.ID}
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

// readChangeBatch reads the results of readChangePage's batch into page,
// decoding with types. A row that does not decode is skipped: pgx's own
// rows.Scan would end the whole result at the first such row.
func (s *postgresEngine) readChangeBatch(br pgx.BatchResults, types *pgtype.Map, page *changePage) error {
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

// horizon is pg_snapshot_xmin: every transaction below it has ended.
func (s *postgresEngine) horizon(ctx context.Context) (int64, error) {
	var h int64
	err := s.sql.QueryRowContext(ctx, "SELECT "+pgHorizon).Scan(&h)
	return h, err
}

// frontier is the next transaction id of a snapshot taken now.
func (s *postgresEngine) frontier(ctx context.Context) (domain.ChangePos, error) {
	var f int64
	if err := s.sql.QueryRowContext(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&f); err != nil {
		return domain.ChangePos{}, fmt.Errorf("change feed frontier: %w", connectionLost(err))
	}
	return domain.ChangePos{Seq: uint64(f)}, nil
}

// departed lists the tickets that left one of teams after `after`.
func (s *postgresEngine) departed(ctx context.Context, after domain.ChangePos, teams []string) (*sql.Rows, error) {
	return s.sql.QueryContext(ctx, `SELECT DISTINCT id FROM ticket_departures WHERE (change_pos, id) > ($1, $2) AND team = ANY($3)`,
		int64(min(after.Seq, math.MaxInt64)), after.ID, teams)
}

// oldestWriter is the server's oldest transaction that holds a transaction
// id: ids are shared by every database of the server, so a writer in any
// of them counts.
func (s *postgresEngine) oldestWriter(ctx context.Context) (ports.Writer, error) {
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

// The tickets changed after a position, for a dashboard that resumes from
// it: see ChangedSince.
const (
	pgChangedSinceSQL = `SELECT id, team FROM tickets WHERE (change_pos, id) > ($1, $2)`
	pgDeletedSinceSQL = `SELECT DISTINCT id FROM ticket_removals r WHERE (change_pos, id) > ($1, $2) AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = r.id)`
)

func (*postgresEngine) changedSinceSQL() (changed, deleted string) {
	return pgChangedSinceSQL, pgDeletedSinceSQL
}

// snapshotTx is REPEATABLE READ, which, taking no transaction id while it
// writes nothing, holds back no one's horizon.
func (*postgresEngine) snapshotTx() *sql.TxOptions {
	return &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
}
