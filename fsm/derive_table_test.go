package fsm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"quadrature/lvs"
)

// oneNode applies conf for a single live node "a".
func oneNode(t *testing.T, conf string) *harness {
	t.Helper()
	h := newHarness(t)
	h.must(SetLiveNodes{Nodes: []string{"a"}})
	h.must(configCmd(t, conf, 0, "a"))
	return h
}

func TestIWashTable(t *testing.T) {
	h := iwashHarness(t)
	tbl := h.state().DesiredTable()
	if len(tbl.Services) != 1 {
		t.Fatalf("%d services, want 1", len(tbl.Services))
	}
	s := tbl.Services[0]
	if s.Key.String() != iwashVS || s.Scheduler != "wrr" || len(s.Destinations) != 3 {
		t.Fatalf("service %+v", s)
	}
	for _, d := range s.Destinations {
		if d.Method != lvs.DR || d.Weight != 1 {
			t.Errorf("destination %+v: want DR, configured weight 1 before reports", d)
		}
	}
}

func TestInhibitDrainAndDown(t *testing.T) {
	conf := `virtual_server 192.0.2.1 80 {
 protocol TCP
 lb_algo wlc
 lb_kind NAT
 real_server 198.51.100.1 80 {
  weight 5
  inhibit_on_failure
  TCP_CHECK { connect_timeout 1 }
 }
 real_server 198.51.100.2 80 {
  weight 7
  TCP_CHECK { connect_timeout 1 }
 }
 real_server 198.51.100.3 80 {
  weight 9
  TCP_CHECK { connect_timeout 1 }
 }
}
`
	h := oneNode(t, conf)
	vs := "tcp/192.0.2.1:80"
	h.report("a", up(vs, "198.51.100.1:80", 5), up(vs, "198.51.100.2:80", 7), up(vs, "198.51.100.3:80", 9))
	h.report("a", down(vs, "198.51.100.1:80"), down(vs, "198.51.100.2:80"))
	h.must(SetDrain{VS: vs, RS: ap("198.51.100.3:80"), Drained: true})
	got := destWeights(t, h.state(), vs)
	want := map[string]int32{"198.51.100.1:80": 0, "198.51.100.3:80": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("table %v, want %v (inhibited down = 0, plain down removed, drained = 0)", got, want)
	}
	if v, _ := h.state().VerdictOf(vs, ap("198.51.100.3:80")); !v.Drained || !v.Up || v.Weight != 9 {
		t.Fatalf("drained verdict %+v", v)
	}
	h.must(SetDrain{VS: vs, RS: ap("198.51.100.3:80"), Drained: false})
	if w := destWeights(t, h.state(), vs)["198.51.100.3:80"]; w != 9 {
		t.Fatalf("undrained weight %d, want 9", w)
	}
	if r := h.apply(SetDrain{VS: vs, RS: ap("198.51.100.9:80"), Drained: true}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("drain of unknown real server: %v, want ErrNotFound", r.Err)
	}
}

const quorumConf = `virtual_server 192.0.2.1 80 {
 protocol TCP
 lb_algo rr
 lb_kind DR
 quorum 4
 hysteresis 1
 sorry_server 203.0.113.99 80
 %s
 real_server 198.51.100.1 80 {
  weight 2
  TCP_CHECK { connect_timeout 1 }
 }
 real_server 198.51.100.2 80 {
  weight 2
  TCP_CHECK { connect_timeout 1 }
 }
 real_server 198.51.100.3 80 {
  weight 2
  inhibit_on_failure
  TCP_CHECK { connect_timeout 1 }
 }
}
`

func TestQuorumHysteresisSorryServer(t *testing.T) {
	h := oneNode(t, fmt.Sprintf(quorumConf, ""))
	vs := "tcp/192.0.2.1:80"
	st := func() QuorumState { return h.state().Quorums()[0] }
	if q := st(); !q.Up || q.WeightSum != 6 {
		t.Fatalf("start: %+v, want up with 6 (6 >= 4+1)", q)
	}
	// 4 >= quorum - hysteresis (3): still up.
	h.report("a", down(vs, "198.51.100.1:80"))
	if q := st(); !q.Up || q.WeightSum != 4 {
		t.Fatalf("sum 4: %+v, want up", q)
	}
	// 2 < 3: lost. Alive real servers leave, the inhibited one stays at 0,
	// the sorry server comes in with weight 1.
	h.report("a", down(vs, "198.51.100.2:80"))
	if q := st(); q.Up {
		t.Fatalf("sum 2: %+v, want down", q)
	}
	want := map[string]int32{"198.51.100.3:80": 0, "203.0.113.99:80": 1}
	if got := destWeights(t, h.state(), vs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("quorum lost: %v, want %v", got, want)
	}
	// Back to 4: below quorum + hysteresis (5), stays down.
	h.report("a", up(vs, "198.51.100.2:80", 2))
	if q := st(); q.Up || q.WeightSum != 4 {
		t.Fatalf("sum 4 from below: %+v, want still down", q)
	}
	// 6 >= 5: gained; the sorry server leaves.
	h.report("a", up(vs, "198.51.100.1:80", 2))
	want = map[string]int32{"198.51.100.1:80": 2, "198.51.100.2:80": 2, "198.51.100.3:80": 2}
	if got := destWeights(t, h.state(), vs); fmt.Sprint(got) != fmt.Sprint(want) || !st().Up {
		t.Fatalf("quorum regained: %v up=%t, want %v", got, st().Up, want)
	}
	// Sum 0 always loses quorum, even with quorum 1 hysteresis 0; drained
	// real servers count 0.
	for _, rs := range []string{"198.51.100.1:80", "198.51.100.2:80", "198.51.100.3:80"} {
		h.must(SetDrain{VS: vs, RS: ap(rs), Drained: true})
	}
	if q := st(); q.Up || q.WeightSum != 0 {
		t.Fatalf("all drained: %+v, want down with 0", q)
	}
}

func TestSorryServerInhibit(t *testing.T) {
	h := oneNode(t, fmt.Sprintf(quorumConf, "sorry_server_inhibit"))
	vs := "tcp/192.0.2.1:80"
	if w, ok := destWeights(t, h.state(), vs)["203.0.113.99:80"]; !ok || w != 0 {
		t.Fatalf("sorry_server_inhibit with quorum up: weight %d present %t, want 0 present", w, ok)
	}
	h.report("a", down(vs, "198.51.100.1:80"), down(vs, "198.51.100.2:80"))
	if w := destWeights(t, h.state(), vs)["203.0.113.99:80"]; w != 1 {
		t.Fatalf("sorry server weight %d after quorum loss, want 1", w)
	}
}

func TestQuorumStartsDown(t *testing.T) {
	// keepalived: a virtual server starts with quorum up iff the alive
	// weight >= quorum + hysteresis; alpha real servers start down.
	conf := `virtual_server 192.0.2.1 80 {
 protocol TCP
 lb_algo rr
 sorry_server 203.0.113.99 80
 real_server 198.51.100.1 80 {
  alpha
  TCP_CHECK { connect_timeout 1 }
 }
}
`
	h := oneNode(t, conf)
	want := map[string]int32{"203.0.113.99:80": 1}
	if got := destWeights(t, h.state(), "tcp/192.0.2.1:80"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("alpha start: %v, want the sorry server only", got)
	}
}

func TestFwmarkGroupAndOptions(t *testing.T) {
	conf := `global_defs {
 lvs_timeouts tcp 900 tcpfin 30 udp 60
}
virtual_server_group web {
 192.0.2.10-12 80
 192.0.2.30 8080
 fwmark 9
}
virtual_server group web {
 protocol TCP
 lb_algo sh
 hashed
 lb_kind DR
 persistence_timeout 300
 real_server 198.51.100.1 80 {
  uthreshold 100
  lthreshold 10
  TCP_CHECK { connect_timeout 1 }
 }
}
virtual_server fwmark 7 {
 lb_algo rr
 lb_kind TUN type gue port 6080 remcsum
 real_server 198.51.100.2 0 {
  weight 3
  TCP_CHECK { connect_port 80 }
 }
}
virtual_server 192.0.2.20 0 {
 protocol UDP
 lb_algo rr
 ops
 persistence_timeout 60
 persistence_granularity 255.255.255.0
 real_server 198.51.100.3 53 {
  TCP_CHECK { connect_port 53 }
 }
}
`
	h := oneNode(t, conf)
	tbl := h.state().DesiredTable()
	var keys []string
	for _, s := range tbl.Services {
		keys = append(keys, s.Key.String())
	}
	wantKeys := "tcp/192.0.2.10:80 tcp/192.0.2.11:80 tcp/192.0.2.12:80 tcp/192.0.2.30:8080 udp/192.0.2.20:0 fwmark/7 fwmark/9"
	if got := strings.Join(keys, " "); got != wantKeys {
		t.Fatalf("services\n got %s\nwant %s", got, wantKeys)
	}
	if tbl.Timeouts == nil || tbl.Timeouts.TCP != 900*time.Second || tbl.Timeouts.UDP != time.Minute {
		t.Errorf("timeouts %+v", tbl.Timeouts)
	}
	for _, s := range tbl.Services {
		switch s.Key.String() {
		case "tcp/192.0.2.11:80", "tcp/192.0.2.30:8080", "fwmark/9":
			if s.Scheduler != "sh" || s.Persistence != 300*time.Second || len(s.Destinations) != 1 {
				t.Errorf("group service %+v", s)
			}
			d := s.Destinations[0]
			if d.UpperThreshold != 100 || d.LowerThreshold != 10 || d.Method != lvs.DR {
				t.Errorf("group destination %+v", d)
			}
		case "fwmark/7":
			d := s.Destinations[0]
			if d.Method != lvs.TUN || d.Tunnel != lvs.TunnelGUE || d.TunnelPort != 6080 || d.TunnelFlags != lvs.TunnelRemCsum || d.Weight != 3 {
				t.Errorf("tunnel destination %+v", d)
			}
		case "udp/192.0.2.20:0":
			if !s.OnePacket || s.Netmask != 24 || s.Persistence != time.Minute {
				t.Errorf("udp service %+v", s)
			}
		}
	}
	// The derived table passes the lvs package's own validation.
	if err := tbl.Validate(); err != nil {
		t.Errorf("lvs validation: %v", err)
	}
}

func TestConfigDifferingPerNodeRejected(t *testing.T) {
	conf := `virtual_server 192.0.2.1 80 {
 protocol TCP
 @a lb_algo rr
 @b lb_algo wrr
 real_server 198.51.100.1 80 {
  TCP_CHECK { connect_timeout 1 }
 }
}
`
	h := newHarness(t)
	r := h.apply(configCmd(t, conf, 0, "a", "b"))
	if !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "virtual_server tcp/192.0.2.1:80") ||
		!strings.Contains(r.Err.Error(), "differs between nodes a and b") {
		t.Fatalf("per-node virtual_server accepted or badly reported: %v", r.Err)
	}
	if h.state().ConfigVersion() != 0 {
		t.Fatal("rejected config changed the version")
	}
	files := map[string][]byte{mainName: []byte(conf)}
	if err := ValidateConfig(files, mainName, nil, []string{"a", "b"}); err == nil {
		t.Fatal("ValidateConfig accepted a per-node virtual_server")
	}
	if err := ValidateConfig(files, mainName, nil, []string{"a"}); err != nil {
		t.Fatalf("ValidateConfig for one node: %v", err)
	}
	// Errors from the parser carry file:line.
	bad := map[string][]byte{mainName: []byte("virtual_server 192.0.2.1 80 {\n lb_algo nonsense\n}\n")}
	err := ValidateConfig(bad, mainName, nil, []string{"a"})
	if err == nil || !strings.Contains(err.Error(), mainName+":2") {
		t.Fatalf("bad config error %v, want file:line", err)
	}
}

func TestConfigWeightChangeResetsWeight(t *testing.T) {
	conf := `virtual_server 192.0.2.1 80 {
 real_server 198.51.100.1 80 {
  weight 5
  TCP_CHECK { connect_timeout 1 }
 }
 real_server 198.51.100.2 80 {
  weight 5
  TCP_CHECK { connect_timeout 1 }
 }
}
`
	h := oneNode(t, conf)
	vs := "tcp/192.0.2.1:80"
	h.report("a", up(vs, "198.51.100.1:80", 5), down(vs, "198.51.100.2:80"))
	h.must(configCmd(t, strings.Replace(conf, "weight 5", "weight 8", 1), 1, "a"))
	want := map[string]int32{"198.51.100.1:80": 8}
	if got := destWeights(t, h.state(), vs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after weight change: %v, want %v (down one stays down)", got, want)
	}
	if obs := h.state().Observations(); len(obs) != 1 || obs[0].RS != ap("198.51.100.2:80") {
		t.Fatalf("observations of the redefined real server kept: %+v", obs)
	}
}

// The tic/tac virtual servers (one IPv4, one IPv6, real servers by host
// name) are identical on both nodes: one merged file validates for both and
// resolves each host name in the family of its virtual server.
func TestTicTacHostNames(t *testing.T) {
	conf := readTestdata(t, "tictac.conf")
	h := newHarness(t)
	h.must(SetLiveNodes{Nodes: []string{"tic", "tac"}})
	h.must(configCmd(t, conf, 0, "tic", "tac"))
	got := h.state().DesiredTable().CanonicalText()
	want := `TCP 192.0.2.132:42 sched=rr flags=0x0 persist=0s mask=32 ops=false
  -> 192.0.2.133:42 DR w=1 u=0 l=0
  -> 192.0.2.134:42 DR w=1 u=0 l=0
TCP [2001:db8:4503::132]:42 sched=rr flags=0x0 persist=0s mask=128 ops=false
  -> [2001:db8:4503::133]:42 DR w=1 u=0 l=0
  -> [2001:db8:4503::134]:42 DR w=1 u=0 l=0
`
	if got != want {
		t.Fatalf("table\n%s\nwant\n%s", got, want)
	}
	if p := h.state().PriorityMap("tic"); fmt.Sprint(p) != "map[tictac:200]" {
		t.Errorf("tic priorities %v", p)
	}
	if p := h.state().PriorityMap("tac"); fmt.Sprint(p) != "map[tictac:100]" {
		t.Errorf("tac priorities %v", p)
	}
}
