package wsgateway

import "time"

// StuckWrites returns how many sockets are in a write that began more than
// age ago: for the tests of clients that stop reading, to know when they
// have.
func (g *Gateway) StuckWrites(age time.Duration) int {
	limit := time.Now().Add(-age).UnixNano()
	n := 0
	for _, c := range g.openConns() {
		if since := c.writingSince.Load(); since != 0 && since < limit {
			n++
		}
	}
	return n
}

// SetClaimWait shortens how long a resume waits for the held tickets its
// client announced. Call it before serving.
func (g *Gateway) SetClaimWait(d time.Duration) { g.claimWait = d }
