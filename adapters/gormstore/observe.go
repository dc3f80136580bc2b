package gormstore

import (
	"context"
	"errors"
	"time"
)

// The kinds of query a QueryObserver is told about.
const (
	QuerySnapshot = "snapshot" // one keyset batch of a stream
	QueryChanges  = "changes"  // one page of the change feed
	QueryTicket   = "ticket"   // one ticket by id
)

// QueryObserver is told how long each database query took and whether it
// failed, for metrics. Its method runs on the query path: it must return at
// once and should not allocate.
type QueryObserver interface {
	// QueryDone reports a query of kind (QuerySnapshot, …) that took d and
	// failed with err (nil on success). A query cancelled because its
	// caller left is not reported.
	QueryDone(kind string, d time.Duration, err error)
}

// SetQueryObserver makes the store report its queries to o. Call it before
// the store is used; nil (the default) reports nothing.
func (s *Store) SetQueryObserver(o QueryObserver) { s.obs = o }

// observe reports a query of kind that started at start.
func (s *Store) observe(kind string, start time.Time, err error) {
	if s.obs == nil || errors.Is(err, context.Canceled) {
		return
	}
	s.obs.QueryDone(kind, time.Since(start), err)
}
