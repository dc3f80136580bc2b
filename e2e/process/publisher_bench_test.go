package process

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// publisher is a broadcasting server that BenchmarkLatencyFloor measures
// beside ticketstream: how to start it, connect a client and publish.
type publisher struct {
	name string
	// start runs the server and returns its command and address once it
	// listens; the address also serves /debug/pprof.
	start func(b *testing.B) (*exec.Cmd, string)
	fleet func(addr string) fleetClient
	// publish sends the ticket's JSON to every client; it returns when the
	// server has taken it.
	publish func(addr string, ticket []byte) error
}

// centrifugo publishes through Centrifugo's HTTP API to one channel that
// every client subscribed to.
func centrifugo(bin string) publisher {
	return publisher{
		name: "centrifugo",
		start: func(b *testing.B) (*exec.Cmd, string) {
			addr := freeLoopbackAddr(b)
			_, port, _ := net.SplitHostPort(addr)
			dir := b.TempDir()
			config := fmt.Sprintf(`{"client": {"insecure": true}, "http_api": {"key": "bench"}, "http_server": {"address": "127.0.0.1", "port": %s}, "log": {"level": "error"}, "debug": {"enabled": true}}`, port)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command(bin, "-c", filepath.Join(dir, "config.json"))
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			awaitListening(b, cmd, addr)
			return cmd, addr
		},
		fleet: func(addr string) fleetClient {
			return fleetClient{
				dial: func(ctx context.Context) (*websocket.Conn, error) {
					c, _, err := websocket.Dial(ctx, "ws://"+addr+"/connection/websocket", nil)
					if err != nil {
						return nil, err
					}
					c.SetReadLimit(1 << 20)
					return c, c.Write(ctx, websocket.MessageText, []byte(`{"id":1,"connect":{}}`+"\n"+`{"id":2,"subscribe":{"channel":"tickets"}}`))
				},
				ready: func(msg []byte) bool { return bytes.Contains(msg, []byte(`"id":2`)) },
				answer: func(ctx context.Context, c *websocket.Conn, msg []byte) bool {
					if !bytes.Equal(bytes.TrimSpace(msg), []byte(`{}`)) {
						return false
					}
					_ = c.Write(ctx, websocket.MessageText, []byte(`{}`)) // a ping: pong
					return true
				},
			}
		},
		publish: func(addr string, ticket []byte) error {
			body := append(append([]byte(`{"channel":"tickets","data":`), ticket...), '}')
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/publish", bytes.NewReader(body))
			req.Header.Set("X-API-Key", "bench")
			req.Header.Set("Content-Type", "application/json")
			return post(req)
		},
	}
}

// barecast publishes through internal/barecast, a bare broadcaster,
// which it builds from this module first (once, before any measurement).
func barecast(b *testing.B) publisher {
	bin := filepath.Join(b.TempDir(), "barecast")
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/barecast").CombinedOutput(); err != nil {
		b.Fatalf("build barecast: %v\n%s", err, out)
	}
	return publisher{
		name: "barecast",
		start: func(b *testing.B) (*exec.Cmd, string) {
			cmd := exec.Command(bin)
			cmd.Stderr = os.Stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			line, err := bufio.NewReader(stdout).ReadString('\n')
			addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
			if err != nil || !ok {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				b.Fatalf("barecast did not say where it listens: %q, %v", line, err)
			}
			return cmd, addr
		},
		fleet: func(addr string) fleetClient {
			return fleetClient{
				dial: func(ctx context.Context) (*websocket.Conn, error) {
					c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
					return c, err
				},
				ready: func(msg []byte) bool { return bytes.Equal(msg, []byte(`{"ready":true}`)) },
			}
		},
		publish: func(addr string, ticket []byte) error {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/publish", bytes.NewReader(ticket))
			return post(req)
		},
	}
}

// post sends req and wants 200 OK.
func post(req *http.Request) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	// Read to the end, so that the next publish reuses the connection.
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("publish: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// freeLoopbackAddr returns a loopback address with a port free just now.
func freeLoopbackAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// awaitListening waits up to 20 s for cmd to accept connections on addr.
func awaitListening(b *testing.B, cmd *exec.Cmd, addr string) {
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b.Fatalf("%s did not listen on %s", cmd.Path, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// measurePublisher runs pub with clients connected and publishes changes
// to them every `every`: the latency runs from the publish call's return,
// as ticketstream's from the writer's COMMIT returning, and (in fromCall)
// from its start. Every client must receive every publication.
func measurePublisher(b *testing.B, pub publisher, clients, changes int, every time.Duration) latencyResult {
	b.Helper()
	ctx := context.Background()
	cmd, addr := pub.start(b)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	time.Sleep(500 * time.Millisecond) // as the ticketstream server settles
	goBefore, rssBefore := goMemoryKB(b, addr), rssKB(b, cmd.Process.Pid)
	f, err := startFleet(ctx, clients, changes, pub.fleet(addr))
	if err != nil {
		b.Fatalf("%s dial: %v", pub.name, err)
	}
	time.Sleep(time.Second)
	goAfter := idleGoMemoryKB(b, addr)
	rssAfter := idleRSSKB(b, cmd.Process.Pid)
	subject := strings.Repeat("Printer on floor 3 jams on every duplex job since the driver update ", 3)
	// A first publication, unmeasured, opens the HTTP connection the
	// measured ones reuse: otherwise the first call's start would count
	// the connection's setup.
	if err := pub.publish(addr, []byte(`{"id":1,"subject":"warm-up"}`)); err != nil {
		b.Fatalf("%s: %v", pub.name, err)
	}
	time.Sleep(500 * time.Millisecond)
	// LATENCY_CPU_PROFILE=file saves this server's profile as file.<name>.
	profiled := profilePublishing(b, addr, changes, every, ".", pub.name)
	serverCPU, clientCPU := cpuTime(b, cmd.Process.Pid), cpuTime(b, os.Getpid())
	calls, commits := make([]time.Time, changes), make([]time.Time, changes)
	tick := time.NewTicker(every)
	for k := range changes {
		<-tick.C
		ticket, _ := json.Marshal(map[string]any{
			"id": 1, "team": "latency", "subject": fmt.Sprintf("latency %d", k), "status": "open", "priority": "high",
			"requester": "someone@customer.example.com", "assignee": "agent@support.example.com", "tags": []string{"printer", "hardware"},
			"created_at": time.Now().UTC(), "updated_at": time.Now().UTC(), "detail": subject,
		})
		calls[k] = time.Now()
		if err := pub.publish(addr, ticket); err != nil {
			b.Fatalf("%s: %v", pub.name, err)
		}
		commits[k] = time.Now()
	}
	tick.Stop()
	if missing := f.lastArrived(time.Now().Add(30 * time.Second)); missing > 0 {
		b.Fatalf("%d %s clients lack the last publication after 30s", missing, pub.name)
	}
	serverCPU, clientCPU = cpuTime(b, cmd.Process.Pid)-serverCPU, cpuTime(b, os.Getpid())-clientCPU
	<-profiled
	f.close()
	r := latencies(f.arrivals, commits)
	if r.merged > 0 {
		b.Fatalf("%s: %d deliveries never arrived", pub.name, r.merged)
	}
	fromCall := latencies(f.arrivals, calls)
	r.fromCall, r.firstFromCall = fromCall.samples, fromCall.first
	r.serverCPU, r.clientCPU = serverCPU, clientCPU
	r.rssBefore, r.rssAfter, r.rssPerConn = rssBefore, rssAfter, (rssAfter-rssBefore)/float64(clients)
	r.goBefore, r.goAfter, r.kbPerConn = goBefore, goAfter, (goAfter-goBefore)/float64(clients)
	return r
}
