// A resuming client's claim of what it holds, carried from the reader,
// which reads its held messages, to the subscription's producer, which
// checks it against the cursor (see held.go and app's claim.go).
//
// Who guards what. The reader alone owns got and sends each batch; the
// producer decides, once, whether the claim is wanted (take or discard,
// which close ready), and waits for done. sub and err are written before
// the channel that publishes them closes.

package wsgateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/app"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/ports"
)

// claimWait bounds how long a subscription waits for the held tickets its
// client announced (Gateway.claimWait, which tests shorten); past it the
// socket closes with 1013, and the client may resume without them.
const claimWait = 30 * time.Second

// claimBox carries one subscription's held tickets.
type claimBox struct {
	want, got int
	ready     chan struct{} // closed once the producer has decided
	decide    sync.Once
	sub       *app.Subscription // the claim's subscription; nil: discard
	done      chan struct{}     // closed once every ticket announced came
	scratch   []app.HeldTicket
}

func newClaimBox(want int) *claimBox {
	b := &claimBox{want: want, ready: make(chan struct{}), done: make(chan struct{})}
	if want == 0 {
		close(b.done)
	}
	return b
}

// take hands the claim to sub: the held tickets go into it.
func (b *claimBox) take(sub *app.Subscription) {
	b.decide.Do(func() { b.sub = sub; close(b.ready) })
}

// discard drops the held tickets: the subscription does not resume from a
// cursor whose digest it could check them against.
func (b *claimBox) discard() { b.decide.Do(func() { close(b.ready) }) }

// complete reports whether every ticket announced came. Reader only.
func (b *claimBox) complete() bool { return b.got == b.want }

// handleHeld acts on a held message; it reports false when it closed the
// socket.
func (c *conn) handleHeld(m ClientMessage) bool {
	b := c.claim
	if b == nil || b.complete() {
		c.closeWith(websocket.StatusPolicyViolation, "held: no held tickets were announced (held=N with the resume), or all came")
		return false
	}
	tickets, err := DecodeHeld(b.scratch[:0], m)
	b.scratch = tickets[:0]
	if err == nil && len(tickets) > b.want-b.got {
		err = domain.Invalidf(ParamHeld, "more tickets than the %d announced", b.want)
	}
	if err != nil {
		c.closeWith(websocket.StatusPolicyViolation, closeReason(err))
		return false
	}
	select {
	case <-b.ready:
	case <-c.ctx.Done():
		return false
	}
	if b.sub != nil {
		err := b.sub.Claim(m.Teams, tickets)
		var derr *domain.Error
		switch {
		case errors.As(err, &derr):
			c.closeWith(websocket.StatusPolicyViolation, closeReason(err))
			return false
		case errors.Is(err, app.ErrMemoryBudget):
			c.closeWith(websocket.StatusTryAgainLater, reasonMemoryBudget)
			return false
		case errors.Is(err, ports.ErrHistoryPruned):
			c.closeWith(websocket.StatusTryAgainLater, reasonHistoryPruned)
			return false
		case errors.Is(err, app.ErrOverflow): // live changes piled up while the claim came
			c.closeWith(websocket.StatusTryAgainLater, "client too slow: reconnect with the cursor of the last message received")
			return false
		case err != nil:
			c.closeWith(websocket.StatusInternalError, "internal error")
			return false
		}
	}
	b.got += len(tickets)
	if b.complete() {
		close(b.done)
	}
	return true
}

// resumeFromClaim takes the claim of a client that resumes from cursor r
// into live and waits for it; it reports whether the claim matched the
// cursor's digest and became the view. An error ends the subscription.
func (c *conn) resumeFromClaim(ctx context.Context, box *claimBox, r domain.LiveCursor, live *app.Subscription) (bool, error) {
	box.take(live)
	t := time.NewTimer(c.g.claimWait)
	defer t.Stop()
	select {
	case <-box.done:
	case <-t.C:
		return false, fmt.Errorf("%w within %v", errClaimLate, c.g.claimWait)
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if !live.AdoptClaim(r.Held) {
		c.g.log.Info("resume: the held tickets do not match the cursor; reading the view back", "conn", c.id, "held", box.want)
		return false, nil
	}
	return true, nil
}

// errClaimLate: the held tickets a client announced did not all come.
var errClaimLate = errors.New("the held tickets announced did not all come")
