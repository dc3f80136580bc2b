package process

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// fleet is the dashboards of a latency benchmark: each reads raw messages
// into a buffer of its own and only looks for the changed ticket's number
// (markArrivals) — decoding every message, or a new buffer per message,
// would spend the shared CPU on the measuring side.
type fleet struct {
	arrivals [][]time.Time // per client, when each change arrived
	stop     chan struct{}
	quit     sync.WaitGroup
}

// fleetClient says how one kind of server is spoken to: dial connects
// (and subscribes), ready tells the message after which the client counts
// as subscribed, and answer replies to a message that needs it (a ping),
// reporting whether it did.
type fleetClient struct {
	dial   func(ctx context.Context) (*websocket.Conn, error)
	ready  func(msg []byte) bool
	answer func(ctx context.Context, c *websocket.Conn, msg []byte) bool
}

// startFleet connects clients (100 dials at a time) and returns once every
// one is subscribed, or with the first dial's error.
func startFleet(ctx context.Context, clients, changes int, fc fleetClient) (*fleet, error) {
	f := &fleet{arrivals: make([][]time.Time, clients), stop: make(chan struct{})}
	var ready sync.WaitGroup
	dials := make(chan struct{}, 100)
	var mu sync.Mutex
	var dialErr error
	for i := range clients {
		f.arrivals[i] = make([]time.Time, changes)
		ready.Add(1)
		f.quit.Add(1)
		go func() {
			defer f.quit.Done()
			dials <- struct{}{}
			c, err := fc.dial(ctx)
			<-dials
			if err != nil {
				mu.Lock()
				dialErr = err
				mu.Unlock()
				ready.Done()
				return
			}
			defer c.CloseNow()
			go func() { <-f.stop; c.CloseNow() }()
			signalled := false
			var buf []byte
			for {
				data, err := readMessage(ctx, c, buf[:0])
				if err != nil {
					if !signalled {
						ready.Done()
					}
					return
				}
				buf = data
				now := time.Now()
				if !signalled && fc.ready(data) {
					signalled = true
					ready.Done()
				}
				if fc.answer != nil && fc.answer(ctx, c, data) {
					continue
				}
				markArrivals(data, now, f.arrivals[i])
			}
		}()
	}
	ready.Wait()
	return f, dialErr
}

// lastArrived waits until every client has the last change, or deadline;
// it returns how many lack it.
func (f *fleet) lastArrived(deadline time.Time) int {
	for {
		missing := 0
		for _, row := range f.arrivals {
			if row[len(row)-1].IsZero() {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// close disconnects every client and waits for them.
func (f *fleet) close() {
	close(f.stop)
	f.quit.Wait()
}

// hasPrefix is a fleetClient.ready for a message that begins with prefix.
func hasPrefix(prefix string) func([]byte) bool {
	return func(msg []byte) bool { return bytes.HasPrefix(msg, []byte(prefix)) }
}
