package wsgateway

import (
	"strconv"
	"time"
)

// subscribeBucket rate-limits one socket's subscribe messages, each of
// which starts a snapshot from the database: a token bucket that holds
// burst subscribes and refills perSecond of them each second. Only the
// socket's reader uses it, so it needs no lock.
type subscribeBucket struct {
	burst, perSecond float64
	tokens           float64
	last             time.Time
}

func newSubscribeBucket(burst int, perSecond float64) *subscribeBucket {
	return &subscribeBucket{burst: float64(burst), perSecond: perSecond, tokens: float64(burst), last: time.Now()}
}

// allow reports whether one more subscribe may start now, taking it from
// the bucket if so.
func (b *subscribeBucket) allow(now time.Time) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.perSecond)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// reason is the close reason for a client that subscribed too fast.
func (b *subscribeBucket) reason() string {
	return "too many subscribe messages: at most " + strconv.FormatFloat(b.perSecond, 'f', -1, 64) +
		" a second after a burst of " + strconv.FormatFloat(b.burst, 'f', -1, 64)
}
