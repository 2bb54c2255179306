package bgp

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A node without a bgp block exports no BGP series (not zeros that would
// read as "announcing nothing").
func TestCollectorWithoutSpeaker(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := &Collector{}
	reg.MustRegister(c)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Fatalf("without a speaker: %d series, %v", n, err)
	}
}
