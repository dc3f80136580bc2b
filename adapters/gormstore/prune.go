package gormstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// PruneRemovals implements ports.ChangeFeed.
func (s *Store) PruneRemovals(ctx context.Context, cutoff time.Time, readTo domain.ChangePos) (int64, error) {
	if readTo.IsZero() {
		return 0, nil
	}
	n, err := s.eng.prune(ctx, cutoff, readTo)
	if err != nil {
		return 0, fmt.Errorf("prune removals: %w", err)
	}
	return n, nil
}
