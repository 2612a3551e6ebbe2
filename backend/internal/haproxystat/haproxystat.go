// Package haproxystat reads what HAProxy thinks of its servers from its
// runtime API (a stats socket), for the tests and benchmarks that run
// server replicas behind it.
package haproxystat

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"
)

// States returns the status of each server of backend (UP, DOWN, or a
// transition such as "UP 1/2"), by name, from `show stat` on the stats
// socket at sock.
func States(sock, backend string) (map[string]string, error) {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	return Parse(raw, backend)
}

// Parse reads the CSV of `show stat`.
func Parse(raw []byte, backend string) (map[string]string, error) {
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "# ") {
		return nil, fmt.Errorf("unexpected stats: %.200q", raw)
	}
	head := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	px, sv, st := slices.Index(head, "pxname"), slices.Index(head, "svname"), slices.Index(head, "status")
	if px < 0 || sv < 0 || st < 0 {
		return nil, errors.New("stats without pxname, svname or status: " + lines[0])
	}
	out := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) <= max(px, sv, st) || f[px] != backend || f[sv] == "BACKEND" || f[sv] == "FRONTEND" {
			continue
		}
		out[f[sv]] = f[st]
	}
	return out, nil
}
