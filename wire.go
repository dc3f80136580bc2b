//go:build wireinject

package ticketstream

import (
	"context"
	"log/slog"

	"github.com/google/wire"

	"github.com/ticketstream/ticketstream/adapters/bearer"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/adapters/restapi"
	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/ports"
)

// DatabaseSet provides the ticket store and binds it to the port the core
// reads from and to what the REST routes read. A later adapter (an in-memory store, a replica) replaces this
// set, not the core.
var DatabaseSet = wire.NewSet(
	gormstore.Open,
	wire.Bind(new(ports.TicketSource), new(*gormstore.Store)),
	wire.Bind(new(ports.ChangeFeed), new(*gormstore.Store)),
	wire.Bind(new(restapi.Store), new(*gormstore.Store)),
)

// CoreSet provides the streaming core.
var CoreSet = wire.NewSet(app.NewStreamer)

// ServerSet provides the live hub, the HTTP and WebSocket sides and the
// token policy they share, bound to the small interfaces each adapter
// declares.
var ServerSet = wire.NewSet(
	provideHubConfig,
	app.NewHub,
	provideCursorSealer,
	provideAuthenticator,
	wire.Bind(new(bearer.Verifier), new(*jwtauth.Authenticator)),
	provideGateway,
	provideMetrics,
	provideREST,
	newServer,
)

// InitializeServer builds the Server from cfg. The returned cleanup closes
// the database.
func InitializeServer(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, func(), error) {
	wire.Build(
		wire.FieldsOf(new(Config), "Database", "Stream", "Server"),
		DatabaseSet,
		CoreSet,
		wire.Struct(new(App), "*"),
		ServerSet,
	)
	return nil, nil, nil
}

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
