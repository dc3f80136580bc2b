//go:build race

package domain_test

// raceEnabled: under -race sync.Pool drops a share of its Puts, so a
// sealer's pooled HMAC state is sometimes made afresh.
const raceEnabled = true
