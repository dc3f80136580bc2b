package ticketstream

import (
	"net"
	"testing"
)

// The log line that says the server is up names the address to open.
func TestDashboardURL(t *testing.T) {
	for _, tc := range []struct {
		addr    net.Addr
		allowed []string
		want    string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, nil, "http://127.0.0.1:8080/"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, nil, "http://localhost:8080/"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9000}, nil, "http://localhost:9000/"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, nil, "http://[::1]:8080/"},
		// A wildcard listener answers only --allowed-hosts: localhost would get 421.
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, []string{"*.example.com", "tickets.example.com"}, "http://tickets.example.com:8080/"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, []string{"tickets.example.com:443"}, "http://tickets.example.com:443/"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, []string{"tickets.example.com"}, "http://127.0.0.1:8080/"},
	} {
		if got := dashboardURL(tc.addr, tc.allowed); got != tc.want {
			t.Errorf("dashboardURL(%v, %q) = %q, want %q", tc.addr, tc.allowed, got, tc.want)
		}
	}
}
