package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketstream/ticketstream/domain"
)

// writer changes tickets the way other programs would: straight SQL, in
// transactions that overlap and commit out of order (PostgreSQL), moving
// updated_at forward with each change so that a version is known by it.
type writer interface {
	change(ctx context.Context, rng *rand.Rand, ids []int64, newID int64) error
}

var proofTeams = []string{"billing", "technical", "accounts", "security", "enterprise"}

func randomEdit(rng *rand.Rand) (team, status, priority, subject string) {
	return proofTeams[rng.IntN(len(proofTeams))], string(domain.Statuses[rng.IntN(len(domain.Statuses))]),
		string(domain.Priorities[rng.IntN(len(domain.Priorities))]), fmt.Sprintf("edit %d", rng.Uint32())
}

// pgWriter commits small transactions; with hold set, it keeps each open
// that long (half to all of it) after its writes, as a session left in
// BEGIN would, while the others commit.
type pgWriter struct {
	conn *pgx.Conn
	hold time.Duration
}

func (w *pgWriter) change(ctx context.Context, rng *rand.Rand, ids []int64, newID int64) error {
	tx, err := w.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // committed below
	for range 1 + rng.IntN(3) {
		id := ids[rng.IntN(len(ids))]
		team, status, priority, subject := randomEdit(rng)
		if rng.IntN(3) > 0 {
			team = "" // keep the team most of the time
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET subject = $2, status = $3, priority = $4,
			team = COALESCE(NULLIF($5, ''), team),
			updated_at = GREATEST(updated_at + interval '1 microsecond', clock_timestamp()) WHERE id = $1`,
			id, subject, status, priority, team); err != nil {
			return err
		}
		// Hold the transaction open a while: others start, write and
		// commit meanwhile, so commits come out of transaction-id order.
		time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
	}
	switch rng.IntN(10) {
	case 0:
		team, status, priority, subject := randomEdit(rng)
		if _, err := tx.Exec(ctx, `INSERT INTO tickets (id, team, subject, status, priority, requester, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'someone@example.com', clock_timestamp(), clock_timestamp())`, newID, team, subject, status, priority); err != nil {
			return err
		}
	case 1:
		if _, err := tx.Exec(ctx, `DELETE FROM tickets WHERE id = $1`, ids[rng.IntN(len(ids))]); err != nil {
			return err
		}
	}
	if w.hold > 0 {
		select {
		case <-time.After(w.hold/2 + time.Duration(rng.Int64N(int64(w.hold/2)))):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return tx.Commit(ctx)
}

type sqliteWriter struct{ db *sql.DB }

func (w *sqliteWriter) change(ctx context.Context, rng *rand.Rand, ids []int64, newID int64) error {
	// One writer at a time: each statement commits on its own.
	for range 1 + rng.IntN(3) {
		id := ids[rng.IntN(len(ids))]
		team, status, priority, subject := randomEdit(rng)
		if rng.IntN(3) > 0 {
			team = ""
		}
		now := time.Now().UnixMicro()
		if _, err := w.db.ExecContext(ctx, `UPDATE tickets SET subject = ?, status = ?, priority = ?,
			team = COALESCE(NULLIF(?, ''), team), updated_at = max(updated_at + 1, ?) WHERE id = ?`,
			subject, status, priority, team, now, id); err != nil {
			return err
		}
	}
	switch rng.IntN(10) {
	case 0:
		team, status, priority, subject := randomEdit(rng)
		now := time.Now().UnixMicro()
		if _, err := w.db.ExecContext(ctx, `INSERT INTO tickets (id, team, subject, status, priority, requester, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'someone@example.com', ?, ?)`, newID, team, subject, status, priority, now, now); err != nil {
			return err
		}
	case 1:
		if _, err := w.db.ExecContext(ctx, `DELETE FROM tickets WHERE id = ?`, ids[rng.IntN(len(ids))]); err != nil {
			return err
		}
	}
	return nil
}

// bulkEdit is one statement that changes thousands of tickets at once, the
// way an administrator's script or a migration does: a status for every
// team but one, a priority for two teams, or a swap of half the tickets into and out of
// billing (which scoped dashboards see as a flood of arrivals and
// departures). Each keeps the proof's rule that updated_at moves forward.
type bulkEdit struct {
	name string
	// pg and sqlite are the statement in each dialect; their arguments are
	// given by args.
	pg, sqlite string
	args       func(rng *rand.Rand) []any
}

var bulkEdits = []bulkEdit{
	{
		name: "status of every team but one",
		pg: `UPDATE tickets SET status = $1, updated_at = GREATEST(updated_at + interval '1 microsecond', clock_timestamp())
			WHERE team <> $2`,
		sqlite: `UPDATE tickets SET status = ?1, updated_at = max(updated_at + 1, ?3) WHERE team <> ?2`,
		args: func(rng *rand.Rand) []any {
			return []any{string(domain.Statuses[rng.IntN(len(domain.Statuses))]), []string{"support", "billing"}[rng.IntN(2)]}
		},
	},
	{
		name: "half the tickets swapped into and out of billing",
		pg: `UPDATE tickets SET team = CASE WHEN team = 'billing' THEN $1 ELSE 'billing' END,
			updated_at = GREATEST(updated_at + interval '1 microsecond', clock_timestamp()) WHERE id % 2 = $2`,
		sqlite: `UPDATE tickets SET team = CASE WHEN team = 'billing' THEN ?1 ELSE 'billing' END,
			updated_at = max(updated_at + 1, ?3) WHERE id % 2 = ?2`,
		args: func(rng *rand.Rand) []any {
			return []any{proofTeams[1+rng.IntN(len(proofTeams)-1)], rng.IntN(2)}
		},
	},
	{
		name: "priority of two teams",
		pg: `UPDATE tickets SET priority = $1, updated_at = GREATEST(updated_at + interval '1 microsecond', clock_timestamp())
			WHERE team IN ($2, 'billing')`,
		sqlite: `UPDATE tickets SET priority = ?1, updated_at = max(updated_at + 1, ?3) WHERE team IN (?2, 'billing')`,
		args: func(rng *rand.Rand) []any {
			return []any{string(domain.Priorities[rng.IntN(len(domain.Priorities))]), []string{"support", "technical"}[rng.IntN(2)]}
		},
	},
}

// bulkWriter runs bulkEdits, one statement (one transaction) at a time.
type bulkWriter struct {
	pg *pgx.Conn // or
	db *sql.DB
}

// run applies a random bulk edit and returns how many tickets it changed.
func (w *bulkWriter) run(ctx context.Context, rng *rand.Rand) (string, int64, error) {
	e := bulkEdits[rng.IntN(len(bulkEdits))]
	args := e.args(rng)
	if w.pg != nil {
		tag, err := w.pg.Exec(ctx, e.pg, args...)
		if err != nil {
			return e.name, 0, fmt.Errorf("bulk edit %q: %w", e.name, err)
		}
		return e.name, tag.RowsAffected(), nil
	}
	res, err := w.db.ExecContext(ctx, e.sqlite, append(args, time.Now().UnixMicro())...)
	if err != nil {
		return e.name, 0, fmt.Errorf("bulk edit %q: %w", e.name, err)
	}
	n, err := res.RowsAffected()
	return e.name, n, err
}
