// Command barecast is a bare WebSocket broadcaster: BenchmarkLatencyFloor
// runs it beside ticketstream and Centrifugo for reference, to show what
// the fan-out alone costs on the machine — one goroutine per client
// writing through coder/websocket, nothing else. A client connects to /ws
// and is sent {"ready":true}; a POST to /publish returns once its body is
// queued for every client (a queue of 64 per client), and each client's
// writer writes it as one text message, with nothing added: no cursor,
// filter or authentication. A client whose queue is full fails the
// publish (503), so that a lost message fails the benchmark rather than
// leave its latency out. It is a measuring instrument, not a server to run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // the benchmark reads heap and stacks, and profiles
	"sync"

	"github.com/coder/websocket"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	clients := map[chan []byte]struct{}{}
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		gone := c.CloseRead(context.Background()) // answers pings and closes
		out := make(chan []byte, 64)
		mu.Lock()
		clients[out] = struct{}{}
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(clients, out)
			mu.Unlock()
			c.CloseNow()
		}()
		// Writes take no deadline or cancellation, as ticketstream's do:
		// a cancellable context costs each write a callback registered and
		// removed. A client that leaves ends the loop through gone.
		if c.Write(context.Background(), websocket.MessageText, []byte(`{"ready":true}`)) != nil {
			return
		}
		for {
			select {
			case <-gone.Done():
				return
			case msg := <-out:
				if c.Write(context.Background(), websocket.MessageText, msg) != nil {
					return
				}
			}
		}
	})
	http.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		msg, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		dropped := 0
		mu.Lock()
		for out := range clients {
			select {
			case out <- msg:
			default:
				dropped++
			}
		}
		mu.Unlock()
		if dropped > 0 {
			http.Error(w, fmt.Sprintf("%d clients 64 messages behind missed this one", dropped), http.StatusServiceUnavailable)
		}
	})
	fmt.Printf("listening %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
