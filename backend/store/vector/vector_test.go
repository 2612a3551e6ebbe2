package vector

import (
	"math"
	"slices"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, v := range [][]float32{{1, -2.5, 0, float32(math.Inf(1)), math.SmallestNonzeroFloat32}, {0.125}} {
		got, err := Decode(Encode(v))
		if err != nil || !slices.Equal(got, v) {
			t.Fatalf("%v came back as %v (%v)", v, got, err)
		}
	}
	if Encode(nil) != nil {
		t.Fatal("no vector should store as NULL")
	}
	if _, err := Decode([]byte{1, 2, 3}); err == nil {
		t.Fatal("3 bytes read as a vector")
	}
}
