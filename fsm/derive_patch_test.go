package fsm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"quadrature/lvs"
)

const patchConf = `virtual_server 192.0.2.10 80 {
  protocol TCP
  lb_algo wrr
  quorum 3
  sorry_server 198.51.100.99 80
  real_server 198.51.100.1 80 {
    weight 2
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 198.51.100.2 80 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
virtual_server 192.0.2.11 53 {
  protocol UDP
  real_server 198.51.100.3 53 {
    inhibit_on_failure
    MISC_CHECK {
      misc_path /bin/true
    }
  }
  real_server 198.51.100.4 53 {
    MISC_CHECK {
      misc_path /bin/true
    }
  }
}
`

// TableChanges names exactly the services that differ: applying its
// upserts to the previous table gives the new desired table, after every
// kind of command that changes verdicts, drains or quorum.
func TestTableChangesPatchesToDesired(t *testing.T) {
	h := newHarness(t)
	h.must(SetLiveNodes{Nodes: []string{"n1", "n2"}})
	h.must(configCmd(t, patchConf, 0, "n1", "n2"))
	vs := []string{"tcp/192.0.2.10:80", "udp/192.0.2.11:53"}
	rss := [][]string{{"198.51.100.1:80", "198.51.100.2:80"}, {"198.51.100.3:53", "198.51.100.4:53"}}
	rng := rand.New(rand.NewPCG(1, 2))
	changedSome, unchangedSome := false, false
	states := []*State{h.state()}
	for step := 0; step < 300; step++ {
		prev := h.state()
		i := rng.IntN(2)
		rs := rss[i][rng.IntN(2)]
		var cmd Command
		switch rng.IntN(4) {
		case 0:
			cmd = ReportVerdicts{Node: []string{"n1", "n2"}[rng.IntN(2)], Observations: []Observation{down(vs[i], rs)}}
		case 1, 2:
			cmd = ReportVerdicts{Node: []string{"n1", "n2"}[rng.IntN(2)], Observations: []Observation{up(vs[i], rs, rng.IntN(4))}}
		case 3:
			cmd = SetDrain{VS: vs[i], RS: ap(rs), Drained: rng.IntN(2) == 0}
		}
		h.must(cmd)
		next := h.state()
		ups, ok := next.TableChanges(prev)
		if !ok {
			t.Fatalf("step %d: same config, but TableChanges wants a full derivation", step)
		}
		got := patch(prev.DesiredTable(), ups)
		want := next.DesiredTable()
		if got.Digest() != want.Digest() {
			t.Fatalf("step %d (%s): patched table differs from the desired table\ngot  %v\nwant %v", step, fmt.Sprint(cmd), got, want)
		}
		if len(ups) > 0 {
			changedSome = true
		} else {
			unchangedSome = true
		}
		if next.TableDigest() != want.Digest() {
			t.Fatalf("step %d: TableDigest is not the desired table's digest", step)
		}
		// Several commands back (the apply loop may skip states), and
		// from a state restored from a snapshot (no history: every real
		// server is compared).
		states = append(states, next)
		old := states[max(0, len(states)-8)]
		if ups, ok := next.TableChanges(old); !ok || patch(old.DesiredTable(), ups).Digest() != want.Digest() {
			t.Fatalf("step %d: patching from %d commands back is not the desired table", step, next.Index()-old.Index())
		}
		// Without a history (a state restored from a snapshot): every
		// real server is compared.
		bare := next.clone()
		bare.index, bare.history = next.index, nil
		if ups, ok := bare.TableChanges(old); !ok || patch(old.DesiredTable(), ups).Digest() != want.Digest() {
			t.Fatalf("step %d: patching without a history is not the desired table", step)
		}
	}
	if !changedSome || !unchangedSome {
		t.Fatalf("the sequence never exercised both outcomes (changed %v, unchanged %v)", changedSome, unchangedSome)
	}
	// Another configuration: the whole table must be derived.
	prev := h.state()
	h.must(configCmd(t, patchConf+"\n# v2\n", 1, "n1", "n2"))
	if _, ok := h.state().TableChanges(prev); ok {
		t.Fatal("a new config version patched instead of deriving the whole table")
	}
}

// patch replaces t's services by key with ups.
func patch(t lvs.Table, ups []lvs.Service) lvs.Table {
	byKey := map[lvs.ServiceKey]int{}
	for i, s := range t.Services {
		byKey[s.Key] = i
	}
	out := lvs.Table{Timeouts: t.Timeouts, Services: append([]lvs.Service(nil), t.Services...)}
	for _, u := range ups {
		u = lvs.Table{Services: []lvs.Service{u}}.Normalize().Services[0]
		if i, ok := byKey[u.Key]; ok {
			out.Services[i] = u
		} else {
			out.Services = append(out.Services, u)
		}
	}
	return out.Normalize()
}
