package jepsen

import (
	"time"
)

// inject corrupts a recorded history the way a product bug would, so a
// real run can show that its checkers fail (InjectEnv):
//   - lost-write: one node's final configuration is the initial one, as
//     if it had lost every acknowledged write;
//   - stale-read: the last successful read returns the initial
//     configuration, after acknowledged writes replaced it;
//   - dual-vip: a node that did not hold the fenced VIP is added as a
//     second holder for 3 s in the middle of the first partition.
//
// An empty kind returns the inputs unchanged.
func inject(kind string, init ConfigState, ops []Op, events []Event, samples []VIPSample, final map[string]ConfigState) ([]Op, []VIPSample, map[string]ConfigState) {
	switch kind {
	case "lost-write":
		for n := range final {
			final[n] = init
			break
		}
	case "stale-read":
		for i := len(ops) - 1; i >= 0; i-- {
			if ops[i].Kind == KindRead && ops[i].Type == OK && ops[i].Value != init.Content {
				ops[i].Value, ops[i].Version = init.Content, init.Version
				break
			}
		}
	case "dual-vip":
		var from time.Duration = -1
		for _, e := range events {
			if e.Phase == PhaseStart && (e.Kind == FaultIsolate || e.Kind == FaultSplit) {
				from = e.At + 1500*time.Millisecond
				break
			}
		}
		if from < 0 && len(samples) > 0 {
			from = samples[len(samples)/2].At
		}
		for i, s := range samples {
			if s.At < from || s.At > from+3*time.Second {
				continue
			}
			h := append([]string(nil), s.Holders[FencedInstance]...)
			for _, cand := range []string{"n1", "n2", "n3"} {
				if !contains(h, cand) {
					h = append(h, cand)
					break
				}
			}
			hs := map[string][]string{}
			for k, v := range s.Holders {
				hs[k] = v
			}
			hs[FencedInstance] = h
			samples[i].Holders = hs
		}
	}
	return ops, samples, final
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
