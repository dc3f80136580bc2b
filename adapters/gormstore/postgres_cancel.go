package gormstore

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// cancelThenDiscard is what a PostgreSQL connection does when the context
// of its statement ends first: it asks the server to cancel the statement,
// so that it stops there at once rather than run to its end for nobody
// (pgx's default only drops the socket, which the server notices when it
// next writes), and then marks the connection to be dropped, never used
// again.
//
// PostgreSQL's cancel request is asynchronous: it names a backend, not a
// statement, and may reach the backend after the statement it was meant
// for has ended. pgx waits 100 ms for it before returning the connection,
// but on a loaded server it arrived later still and cancelled the next
// borrower's statement — another dashboard's snapshot or catch-up failed
// with SQLSTATE 57014 and was closed, when a dashboard that hung up had
// cancelled its own. A connection a cancel was sent on is therefore never
// reused: discardCancelled refuses it when it returns to the pool. The
// pool holds at most its size of such connections at once, so clients
// leaving together cost that many reconnects, not one each.
//
// The connection is dropped as it comes back (pgxConn.IsValid): refused
// only when handed out again, several such connections in a row used up
// database/sql's retries, and a dashboard that had cancelled nothing was
// refused "bad connection". discardCancelled, at hand-out, is the
// backstop.
type cancelThenDiscard struct {
	pgconn.CancelRequestContextWatcherHandler
}

// cancelledKey marks, in a connection's CustomData, a connection whose
// statement was cancelled.
const cancelledKey = "ticketstream.cancelled"

// HandleUnwatchAfterCancel runs on the connection's own goroutine once
// the cancelled operation has ended: the mark is set before the connection
// can go back to the pool.
func (h *cancelThenDiscard) HandleUnwatchAfterCancel() {
	h.CancelRequestContextWatcherHandler.HandleUnwatchAfterCancel()
	h.Conn.CustomData()[cancelledKey] = true
}

// discardCancelled is database/sql's check of a pooled connection before
// it is handed out again: one marked by cancelThenDiscard is refused
// (driver.ErrBadConn), so the pool closes it and uses another.
func discardCancelled(_ context.Context, c *pgx.Conn) error {
	if c.PgConn().CustomData()[cancelledKey] != nil {
		return driver.ErrBadConn
	}
	return nil
}

// discardingConnector makes pgxConns: database/sql's connections to
// PostgreSQL.
type discardingConnector struct{ driver.Connector }

// Connect implements driver.Connector.
func (c discardingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgxConn{dc.(*stdlib.Conn)}, nil
}

// pgxConn is pgx's database/sql connection, refused by the pool as it comes
// back once a statement on it was cancelled.
type pgxConn struct{ *stdlib.Conn }

// IsValid implements driver.Validator, which database/sql asks of a
// connection before it goes back to the pool.
func (c *pgxConn) IsValid() bool {
	return !c.Conn.Conn().IsClosed() && c.Conn.Conn().PgConn().CustomData()[cancelledKey] == nil
}

// openPgxDB opens a pool of pgxConns on cfg.
func openPgxDB(cfg pgx.ConnConfig) *sql.DB {
	return sql.OpenDB(discardingConnector{stdlib.GetConnector(cfg, stdlib.OptionResetSession(discardCancelled))})
}
