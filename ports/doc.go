// Package ports declares what ticketstream's core needs from the outside
// world: a TicketSource that reads tickets and a ChunkSink that delivers
// encoded chunks. The core (package app) depends only on these interfaces;
// adapters implement them, and ports/portstest holds fakes and contract
// suites that every implementation must pass.
package ports
