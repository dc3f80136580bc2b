// Package ticketstream is the composition root: it assembles the core
// (package app) and its adapters into an App with google/wire. The
// injector is InitializeApp in wire.go; wire_gen.go is generated from it
// with `go tool wire gen .` and never edited by hand.
package ticketstream

import (
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/app"
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
	return nil
}

// App is ticketstream assembled: the ticket store and the streaming core
// that reads from it.
type App struct {
	Store    *gormstore.Store
	Streamer *app.Streamer
}
