package gormstore

// PgEpochMicros exposes pgEpochMicros to the package's external benchmarks.
var PgEpochMicros = pgEpochMicros
