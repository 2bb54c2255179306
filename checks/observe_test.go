package checks

import (
	"fmt"
	"testing"
)

func TestObsQueueCoalescesAndCompacts(t *testing.T) {
	var q obsQueue
	for i := 0; i < 3000; i++ {
		q.push(Observation{RealServer: fmt.Sprint("rs", i), Weight: i})
	}
	for i := 0; i < 2000; i++ { // past the compaction threshold
		o, ok := q.pop()
		if !ok || o.RealServer != fmt.Sprint("rs", i) {
			t.Fatalf("pop %d: %+v %v", i, o, ok)
		}
	}
	// Updates of pending real servers replace their entry in place; new ones queue.
	q.push(Observation{RealServer: "rs2500", Weight: -1})
	q.push(Observation{RealServer: "rs0", Weight: -2})
	q.push(Observation{RealServer: "rs2999", Weight: -3})
	var got []Observation
	for {
		o, ok := q.pop()
		if !ok {
			break
		}
		got = append(got, o)
	}
	if len(got) != 1001 {
		t.Fatalf("%d observations left, want 1000 pending + 1 new", len(got))
	}
	if got[500].RealServer != "rs2500" || got[500].Weight != -1 || got[999].Weight != -3 || got[1000].RealServer != "rs0" {
		t.Fatalf("coalescing or order wrong: %+v %+v %+v", got[500], got[999], got[1000])
	}
	seen := map[string]bool{}
	for _, o := range got {
		if seen[o.RealServer] {
			t.Fatalf("%s delivered twice", o.RealServer)
		}
		seen[o.RealServer] = true
	}
}
