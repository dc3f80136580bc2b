//go:build !race

package domain_test

// raceEnabled is false outside -race: sealing must not allocate at all.
const raceEnabled = false
