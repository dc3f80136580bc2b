package gormstore

// pgEpochMicros is shared with the external benchmarks.
var PgEpochMicros = pgEpochMicros
