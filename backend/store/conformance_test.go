package store_test

import (
	"testing"

	"github.com/healthhub/healthhub/backend/store/storetest"
)

// TestConformance runs the one suite against every engine available.
func TestConformance(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) { storetest.Run(t, e) })
	}
}
