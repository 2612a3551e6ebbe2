package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestReplicationScenario(t *testing.T) {
	o := tiny(t)
	res, err := BenchReplication(t.Context(), Engines("")[0], o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rounds) != 2*replicationRounds {
		t.Fatalf("%d rounds; want %d", len(res.Rounds), 2*replicationRounds)
	}
	with := 0
	for _, r := range res.Rounds {
		checkStats(t, r.Booked, o.BookingClients)
		if r.Replicated {
			with++
		}
	}
	if with != replicationRounds || res.With <= 0 || res.Without <= 0 || res.Ratio() <= 0 {
		t.Fatalf("%d replicated rounds, %v with, %v without", with, res.With, res.Without)
	}
	var out bytes.Buffer
	o.Scenarios = []string{"replication"}
	if err := runReplication(t.Context(), &out, Engines("")[0], o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "replication cost") || !strings.Contains(out.String(), "ratio") {
		t.Fatalf("report:\n%s", out.String())
	}
}
