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
	// /readyz counts the feed stale once it has not been read for
	// --ready-feed-stale-after: an idle feed, read once a poll interval,
	// must be read well within it, or readiness fails between reads that
	// come on time.
	poll := cmp.Or(c.Live.PollInterval, app.DefaultHubConfig().PollInterval)
	if stale := cmp.Or(c.Server.REST.FeedStaleAfter, restapi.DefaultConfig().FeedStaleAfter); 2*poll > stale {
		return domain.Invalidf("poll-interval", "must be at most half the time after which /readyz counts the feed stale (ready-feed-stale-after, %s), got %s: an idle feed read this seldom would fail readiness between reads on time", stale, poll)
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
// given up as hung.
func provideHubConfig(cfg Config) app.HubConfig {
	live := cfg.Live
	if live.ReadTimeout == 0 {
		stall := cmp.Or(live.StallWarning, app.DefaultHubConfig().StallWarning)
		live.ReadTimeout = max(3*stall, cfg.Database.FeedPageTimeout()+readTimeoutMargin)
	}
	return live
}

// App is ticketstream assembled: the ticket store and the streaming core
// that reads from it.
type App struct {
	Store    *gormstore.Store
	Streamer *app.Streamer
}
