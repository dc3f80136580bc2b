package ticketstream_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/domain"
)

func TestAllowedHosts_TheRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr    string
		open    bool
		list    []string
		allows  []string
		refuses []string
		err     string
	}{
		{addr: "127.0.0.1:8080", open: true, allows: []string{"localhost:8080", "[::1]", "127.0.0.1"}, refuses: []string{"rebind.attacker.test"}},
		{addr: "localhost:8080", open: true, allows: []string{"localhost"}, refuses: []string{"example.com"}},
		{addr: "[::1]:8080", allows: []string{"[::1]:8080", "localhost"}, refuses: []string{"rebind.attacker.test:8080"}},
		{addr: "10.0.0.5:8080", allows: []string{"10.0.0.5:8080", "10.0.0.5"}, refuses: []string{"localhost", "rebind.attacker.test"}},
		{addr: "[2001:db8::5]:8080", allows: []string{"[2001:db8::5]:8080"}, refuses: []string{"[2001:db8::6]:8080"}},
		{addr: "tickets.example.com:443", allows: []string{"tickets.example.com"}, refuses: []string{"a.tickets.example.com"}},
		{addr: "0.0.0.0:8080", err: "is required when listening on the wildcard address"},
		{addr: "[::]:8080", err: "is required when listening on the wildcard address"},
		{addr: ":8080", err: "is required when listening on the wildcard address"},
		{addr: ":8080", list: []string{"*.example.com"}, allows: []string{"a.example.com"}, refuses: []string{"example.com", "localhost"}},
		{addr: "127.0.0.1:8080", open: true, list: []string{"localhost", "[::1]"}, allows: []string{"localhost"}, refuses: []string{"127.0.0.1"}},
		{addr: "127.0.0.1:8080", open: true, list: []string{"dev.example.com"}, err: "may name only loopback hosts"},
		{addr: ":8080", list: []string{"*example.com"}, err: `"*example.com"`},
	}
	for _, tc := range tests {
		got, err := ticketstream.AllowedHosts(tc.addr, tc.open, tc.list)
		if tc.err != "" {
			var derr *domain.Error
			if err == nil || !errors.As(err, &derr) || derr.Param != "allowed-hosts" || !strings.Contains(derr.Message, tc.err) {
				t.Errorf("AllowedHosts(%s, %v, %v) = %v, want an allowed-hosts error with %q", tc.addr, tc.open, tc.list, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("AllowedHosts(%s, %v, %v): %v", tc.addr, tc.open, tc.list, err)
			continue
		}
		for _, h := range tc.allows {
			if !got.Allows(h) {
				t.Errorf("AllowedHosts(%s, %v, %v) refuses %s", tc.addr, tc.open, tc.list, h)
			}
		}
		for _, h := range tc.refuses {
			if got.Allows(h) {
				t.Errorf("AllowedHosts(%s, %v, %v) allows %s", tc.addr, tc.open, tc.list, h)
			}
		}
	}
}
