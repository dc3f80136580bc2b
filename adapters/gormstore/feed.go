package gormstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

var _ ports.ChangeFeed = (*Store)(nil)

// resumableSQL reads the position below which removals were pruned.
const resumableSQL = `SELECT removals_pruned_before FROM change_feed_state WHERE id = 1`

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
	if !bounded && after.ID == 0 && after.Seq > 0 {
		// The hub's idle poll: where one cheap read tells that nothing
		// changed, it is all the poll costs.
		unchanged, err := s.eng.unchangedAfter(ctx, after)
		if err != nil {
			return after, fmt.Errorf("read changes: %w", connectionLost(err))
		}
		if unchanged {
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
		err := s.eng.readChangePage(ctx, readFrom, after, upTo, batchSize, &page)
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

// rowScanner is what pgx.Rows and *sql.Rows share.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanRemovals reads removal rows (change_pos, id, teams left) into page;
// left says how to scan the teams, which each dialect returns its own way.
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
	h, err := s.eng.horizon(ctx)
	if err != nil {
		return domain.ChangePos{}, fmt.Errorf("change feed horizon: %w", connectionLost(err))
	}
	return domain.ChangePos{Seq: uint64(h)}, nil
}

// Frontier implements ports.ChangeFeed: every transaction a query made
// before it could see is below it.
func (s *Store) Frontier(ctx context.Context) (domain.ChangePos, error) {
	return s.eng.frontier(ctx)
}

// Departed implements ports.ChangeFeed.
func (s *Store) Departed(ctx context.Context, after domain.ChangePos, teams []string) ([]int64, error) {
	if len(teams) == 0 {
		return nil, nil
	}
	rows, err := s.eng.departed(ctx, after, teams)
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

// OldestWriter implements ports.ChangeFeed: the oldest transaction that
// holds back the change feed, if any.
func (s *Store) OldestWriter(ctx context.Context) (ports.Writer, error) {
	return s.eng.oldestWriter(ctx)
}

// DeleteTicket deletes the ticket with the given id, or returns ENotFound.
func (s *Store) DeleteTicket(ctx context.Context, id int64) error {
	res, err := s.sql.ExecContext(ctx, `DELETE FROM tickets WHERE id = `+s.eng.style().param(1), id)
	if err != nil {
		return fmt.Errorf("delete ticket %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return &domain.Error{Code: domain.ENotFound, Param: "id", Message: fmt.Sprintf("no ticket %d", id)}
	}
	return nil
}
