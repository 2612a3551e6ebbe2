package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientIPBehindABalancer: the client's address is the rightmost
// untrusted hop of every X-Forwarded-For line together, so a client behind
// a balancer that appends its own line cannot choose its address by
// sending one first; addresses from untrusted peers are never believed.
func TestClientIPBehindABalancer(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name   string
		remote string
		lines  []string
		want   string
	}{
		{"no header", "10.0.0.5:4000", nil, "10.0.0.5"},
		{"one hop", "10.0.0.5:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"forged first line, balancer's line after", "10.0.0.5:4000", []string{"203.0.113.9", "198.51.100.7"}, "198.51.100.7"},
		{"forged hop in one line", "10.0.0.5:4000", []string{"203.0.113.9, 198.51.100.7"}, "198.51.100.7"},
		{"through two trusted proxies", "10.0.0.5:4000", []string{"198.51.100.7, 10.1.1.1"}, "198.51.100.7"},
		{"untrusted peer", "192.0.2.1:4000", []string{"203.0.113.9"}, "192.0.2.1"},
		{"garbage hop", "10.0.0.5:4000", []string{"198.51.100.7", "not-an-address"}, "10.0.0.5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			for _, l := range c.lines {
				r.Header.Add("X-Forwarded-For", l)
			}
			if got := clientIP(r, trusted); got != c.want {
				t.Fatalf("clientIP = %q, want %q", got, c.want)
			}
		})
	}
}
