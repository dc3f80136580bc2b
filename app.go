// Package ticketstream is the composition root: it assembles the core
// (package app) and its adapters into an App with google/wire. The
// injector is InitializeApp in wire.go; wire_gen.go is generated from it
// with `go tool wire gen .` and never edited by hand.
package ticketstream

import (
	"cmp"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
)

// Config is everything the App is built from. cmd/ticketstream fills it
// from flags and environment variables.
type Config struct {
	Database gormstore.Config
	Stream   app.Config
	Live     app.HubConfig
	Server   ServerConfig
}

// Validate reports the first setting of c that its part cannot use, as
// an EInvalid error naming it. Each constructor checks its own part again;
// this lets a command refuse a bad setting before it opens anything.
func (c Config) Validate() error {
	for _, v := range []interface{ Validate() error }{c.Database, c.Stream, c.Live, c.Server} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return checkPollForReadiness(c)
}

// checkPollForReadiness refuses a poll interval over half the time after
// which /readyz counts the feed stale (--ready-feed-stale-after): an idle
// feed, read once a poll interval, would fail readiness between reads that
// come on time. Only the root sees both settings; the hub checks its own
// stall warning (app.HubConfig.Validate).
func checkPollForReadiness(c Config) error {
	poll := cmp.Or(c.Live.PollInterval, app.DefaultHubConfig().PollInterval)
	if stale := cmp.Or(c.Server.REST.FeedStaleAfter, restapi.DefaultConfig().FeedStaleAfter); poll > stale/2 {
		return domain.Invalidf("poll-interval", "must be at most half --ready-feed-stale-after (%s), after which /readyz counts the feed stale, got %s: an idle feed read this seldom would fail readiness between reads on time; shorten it or raise --ready-feed-stale-after", stale, poll)
	}
	return nil
}

// readTimeoutMargin is how much longer than the longest page of the feed
// on a database that answers a feed read may wait for one before it is
// given up.
const readTimeoutMargin = 5 * time.Second

// provideHubConfig is cfg.Live, with a ReadTimeout left to its default
// set from the database's statement timeout: a page of the feed whose
// every statement runs up to that on a database that answers is never
// given up as hung. It refuses what checkPollForReadiness does: a server
// built without Config.Validate (a test, a program of its own) is refused
// it too.
func provideHubConfig(cfg Config) (app.HubConfig, error) {
	if err := checkPollForReadiness(cfg); err != nil {
		return app.HubConfig{}, err
	}
	live := cfg.Live
	if live.ReadTimeout == 0 {
		stall := cmp.Or(live.StallWarning, app.DefaultHubConfig().StallWarning)
		live.ReadTimeout = max(3*stall, cfg.Database.FeedPageTimeout()+readTimeoutMargin)
	}
	return live, nil
}

// App is ticketstream assembled: the ticket store and the streaming core
// that reads from it.
type App struct {
	Store    *gormstore.Store
	Streamer *app.Streamer
}
