package main

import (
	"log/slog"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
)

// warnSecretsOnCommandLine warns when a secret was given as a flag: any
// local user reads a process's command line in ps or /proc. The value is
// never logged.
func warnSecretsOnCommandLine(s *settings, databaseURL string, log *slog.Logger) {
	if s.given("jwt-secret") {
		log.Warn("the token secret was given with --jwt-secret, which every local user can read in ps: use TICKETSTREAM_JWT_SECRET or --jwt-secret-file")
	}
	if s.given("database") && gormstore.Redact(databaseURL) != databaseURL {
		log.Warn("the database URL given with --database holds a secret, which every local user can read in ps: use TICKETSTREAM_DATABASE", "database", gormstore.Redact(databaseURL))
	}
}
