package app

import "time"

// warmFor is how long after a change the feed is read more often: changes
// come in runs (a queue being worked, a conversation), and an idle server
// returns to the plain interval soon.
const warmFor = time.Second

// busyRead is how many changes one read must find for the writers to count
// as busy (see nextRead).
const busyRead = 8

// nextRead returns how long after a read's start the next one starts, for
// a read that found found changes, sinceChange after the last read that
// found any.
//
// The interval runs from the read's start: a read that handed many changes
// over must not add a whole interval of its own, or changes made meanwhile
// become visible together and are merged.
//   - A read that found a few changes is followed after a tenth of the
//     interval by the next, which finds the rest of a burst.
//   - A read that found many (busyRead or more) is followed after the whole
//     interval, as an idle feed is. Writers that busy fill every read
//     however often it comes, and a read costs the database about the same
//     whatever it returns: read at a tenth of the interval, the feed took
//     about a sixth of 8 busy writers' commits on this machine's 2 cores;
//     once an interval, a few points more than its triggers alone
//     (BenchmarkWriterCommits). So busy writers cost the feed no more
//     reads than idle ones, and their changes wait at most an interval, the
//     floor of live latency anyway.
//   - While changes keep coming (one within warmFor) the feed is read four
//     times as often, which cuts the wait for the next read by as much.
//   - Only an idle feed waits the whole interval, and costs what it did.
func nextRead(interval time.Duration, found uint64, sinceChange time.Duration) time.Duration {
	switch {
	case found >= busyRead:
		return interval
	case found > 0:
		return interval / 10
	case sinceChange < warmFor:
		return interval / 4
	}
	return interval
}
