package ticketstream

import (
	"net"
	"testing"
)

// The log line that says the server is up names the address to open.
func TestDashboardURL(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://127.0.0.1:8080/"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "http://localhost:8080/"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9000}, "http://localhost:9000/"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, "http://[::1]:8080/"},
	} {
		if got := dashboardURL(tc.addr); got != tc.want {
			t.Errorf("dashboardURL(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
