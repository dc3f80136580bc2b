package wsgateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ticketstream/ticketstream/adapters/wsgateway"
	"github.com/ticketstream/ticketstream/domain/demodata"
)

const subscribeMsg = `{"type":"subscribe","query":"team=billing"}`

// TestResubscribe_ABurstPassesAFloodIsClosedWith1008: a few quick filter
// changes are served; a client sending subscribes as fast as it can, each
// of which would start a snapshot, is closed with 1008 and a reason that
// says why.
func TestResubscribe_ABurstPassesAFloodIsClosedWith1008(t *testing.T) {
	f := newFixture(t, demodata.New(9).Tickets(200), wsgateway.Options{SubscribeBurst: 3, SubscribesPerSecond: 1})
	c := dial(t, f.url(""), "admin")
	readSnapshot(t, c, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 3 {
		if err := c.Write(ctx, websocket.MessageText, []byte(subscribeMsg)); err != nil {
			t.Fatal(err)
		}
	}
	readSnapshot(t, c, 4)

	// The flood: a writer that stops only when the server has closed.
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		for ctx.Err() == nil {
			if c.Write(ctx, websocket.MessageText, []byte(subscribeMsg)) != nil {
				return
			}
		}
	}()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "too many subscribe") {
			t.Fatalf("a client flooding subscribes: %v, want 1008 \"too many subscribe messages…\"", err)
		}
		break
	}
	cancel()
	<-flooded
}
