// Package deploy runs the deployment recipes of docs/deploy as a reader
// would: the nginx site in front of two ticketstream replicas, with TLS,
// WebSocket upgrades and a replica stopped under a live dashboard, and the
// systemd unit through systemd-analyze. It holds tests only; they need
// nginx (Debian's package), openssl, PostgreSQL and, for the unit,
// systemd-analyze, and skip without them — except under CI=true, where
// they fail.
package deploy
