//go:build wireinject

package ticketstream

import (
	"context"
	"log/slog"

	"github.com/google/wire"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/ports"
)

// DatabaseSet provides the ticket store and binds it to the port the core
// reads from. A later adapter (an in-memory store, a replica) replaces this
// set, not the core.
var DatabaseSet = wire.NewSet(
	gormstore.Open,
	wire.Bind(new(ports.TicketSource), new(*gormstore.Store)),
)

// CoreSet provides the streaming core.
var CoreSet = wire.NewSet(app.NewStreamer)

// InitializeApp builds the App from cfg. The returned cleanup closes what
// the providers opened (the database), in reverse order.
func InitializeApp(ctx context.Context, cfg Config, logger *slog.Logger) (*App, func(), error) {
	wire.Build(
		wire.FieldsOf(new(Config), "Database", "Stream"),
		DatabaseSet,
		CoreSet,
		wire.Struct(new(App), "*"),
	)
	return nil, nil, nil
}
