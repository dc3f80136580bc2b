package restapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ticketstream/ticketstream/domain"
)

// FeedHealth tells readiness when the change feed last answered.
type FeedHealth interface {
	// LastRead is the time of the feed's last successful read; zero
	// before the first.
	LastRead() time.Time
}

// readyTimeout bounds a readiness check, so that a load balancer hears
// within a second: a database that takes longer is not ready.
const readyTimeout = 800 * time.Millisecond

// SetFeedHealth makes /readyz report the change feed's health from f. Call
// it before serving; nil (the default) leaves the feed out of readiness.
func (s *Server) SetFeedHealth(f FeedHealth) { s.feed = f }

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers whether this replica can serve: the tickets table reads
// (on connections reserved for the check, never behind client streams) and
// the change feed has answered lately.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	// A driver may take longer than ctx to give up on a connection that
	// went silent (pgx waits for its cancel request first): the answer does
	// not wait for it.
	done := make(chan error, 1)
	go func() { done <- s.store.Ready(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("check tickets: %w", ctx.Err())
	}
	if err != nil {
		s.log.Warn("not ready", "err", err)
		return &domain.Error{Code: domain.EUnavailable, Message: "the database cannot read tickets"}
	}
	if s.feed != nil {
		last := s.feed.LastRead()
		if last.IsZero() {
			last = s.started // the feed's first read may still be on its way
		}
		if age := time.Since(last); age > s.cfg.FeedStaleAfter {
			return &domain.Error{Code: domain.EUnavailable, Message: fmt.Sprintf("the change feed has not been read for %s", age.Round(time.Second))}
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
