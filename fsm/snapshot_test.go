package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/netip"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"quadrature/config"
)

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

// persist takes a raft snapshot of f and returns its bytes.
func persist(t testing.TB, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed {
		t.Fatalf("persist: %v (closed %t)", err, sink.closed)
	}
	return sink.Bytes()
}

func restore(t testing.TB, f *FSM, b []byte) {
	t.Helper()
	if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatalf("restore: %v", err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	h := iwashHarness(t)
	h.report("iwash1", up(iwashVS, "203.0.113.11:3128", 10), down(iwashVS, "203.0.113.12:3128"))
	h.report("iwash2", up(iwashVS, "203.0.113.11:3128", 20), down(iwashVS, "203.0.113.12:3128"))
	h.must(SetDrain{VS: iwashVS, RS: ap("203.0.113.13:3128"), Drained: true})
	h.must(SetMaintenance{Node: "iwash2", On: true})
	h.must(TransferVIP{Instance: "iwash", ToNode: "iwash3"})
	h.must(SetPlacement{Priorities: []InstancePriorities{{"iwash", []NodePriority{{"iwash1", 120}}}}})
	h.idx++
	h.f.ApplyCommand(h.idx, []byte(`{"type":"future","v":1,"payload":{}}`))

	b := persist(t, h.f)
	f2 := New(Options{})
	restore(t, f2, b)
	if b2 := persist(t, f2); !bytes.Equal(b, b2) {
		t.Fatalf("snapshot not stable across restore:\n%s\n%s", b, b2)
	}
	s1, s2 := h.state(), f2.State()
	if s1.DesiredTable().Digest() != s2.DesiredTable().Digest() ||
		fmt.Sprint(s1.Placement()) != fmt.Sprint(s2.Placement()) ||
		fmt.Sprint(s1.Verdicts()) != fmt.Sprint(s2.Verdicts()) ||
		s2.UnknownCommands() != 1 || s2.Index() != h.idx || s2.ConfigVersion() != 1 {
		t.Fatalf("restored state differs: %v %v", s1.Verdicts(), s2.Verdicts())
	}
	// The restored FSM keeps applying like the original.
	c := MustEncode(ReportVerdicts{Node: "iwash3", Observations: []Observation{up(iwashVS, "203.0.113.12:3128", 3)}})
	h.f.ApplyCommand(h.idx+1, c)
	f2.ApplyCommand(h.idx+1, c)
	if !bytes.Equal(persist(t, h.f), persist(t, f2)) {
		t.Fatal("original and restored FSM diverged")
	}
}

func TestRestoreErrors(t *testing.T) {
	f := New(Options{})
	for _, in := range []string{"", "{", `{"format":2}`, `{"format":1,"bogus":1}`, `{"format":1} x`,
		`{"format":1,"config":{"main":"m","files":[],"hosts":[],"nodes":["a"]}}`} {
		if err := f.Restore(io.NopCloser(strings.NewReader(in))); err == nil {
			t.Errorf("Restore(%q) succeeded", in)
		}
	}
	if f.State().Index() != 0 {
		t.Fatal("failed restore replaced the state")
	}
	// A config this build cannot compile any more is kept and reported.
	h := iwashHarness(t)
	b := persist(t, h.f)
	failing := func(map[string][]byte, string, map[string][]netip.Addr, string) (*config.Config, error) {
		return nil, errors.New("unsupported keyword")
	}
	f = New(Options{Parse: failing})
	restore(t, f, b)
	if f.State().CompileError() == nil || len(f.State().DesiredTable().Services) != 0 {
		t.Fatal("uncompilable config not reported")
	}
	if !bytes.Equal(persist(t, f), b) {
		t.Fatal("uncompilable config not preserved by the snapshot")
	}
}

// The random-log test: three FSMs fed the same random log, and a fourth
// restored from a snapshot taken midway, end byte-identical.

const randConfTmpl = `cluster {
 @n1 bind 198.51.100.1
 @n2 bind 198.51.100.2
 @n3 bind 198.51.100.3
 @n4 bind 198.51.100.4
 @n4 role witness
 verdict_policy %s
 %s
}
vrrp_instance v1 {
 interface eth0
 virtual_router_id 1
 @n1 priority 150
 @n2 priority 100
 @n3 priority 50
 virtual_ipaddress { 192.0.2.1/24 }
}
vrrp_instance v2 {
 interface eth0
 virtual_router_id 2
 @n2 priority 150
 virtual_ipaddress { 192.0.2.2/24 }
}
vrrp_sync_group g {
 group { v1 v2 }
}
vrrp_instance v3 {
 interface eth0
 virtual_router_id 3
 virtual_ipaddress { 192.0.2.3/24 }
}
virtual_server 192.0.2.10 80 {
 protocol TCP
 lb_algo wrr
 lb_kind DR
 quorum 3
 hysteresis 1
 sorry_server 203.0.113.99 80
 real_server 198.51.100.1 80 {
  weight 2
  TCP_CHECK { connect_timeout 1 }
 }
 real_server 198.51.100.2 80 {
  weight 2
  inhibit_on_failure
  TCP_CHECK { connect_timeout 1 }
 }
 real_server 198.51.100.3 80 {
  alpha
  MISC_CHECK {
   misc_path "/bin/true"
   misc_dynamic
  }
 }
}
virtual_server_group grp {
 192.0.2.20-22 443
 fwmark 5
}
virtual_server group grp {
 protocol TCP
 lb_algo rr
 real_server 198.51.100.1 443 {
  TCP_CHECK { connect_timeout 1 }
 }
 real_server 198.51.100.4 443 {
  TCP_CHECK { connect_timeout 1 }
 }
}
`

var randNodes = []string{"n1", "n2", "n3", "n4"}

var randRS = []RSID{
	{"tcp/192.0.2.10:80", ap("198.51.100.1:80")},
	{"tcp/192.0.2.10:80", ap("198.51.100.2:80")},
	{"tcp/192.0.2.10:80", ap("198.51.100.3:80")},
	{"group/grp/tcp", ap("198.51.100.1:443")},
	{"group/grp/tcp", ap("198.51.100.4:443")},
	{"tcp/192.0.2.10:80", ap("198.51.100.9:80")}, // not configured
}

func randSubset(r *rand.Rand, s []string) []string {
	var out []string
	for _, x := range s {
		if r.Intn(3) > 0 {
			out = append(out, x)
		}
	}
	return out
}

// randomEntry builds one log entry; ref is the reference FSM's state (to
// pick a mostly-correct config version).
func randomEntry(t testing.TB, r *rand.Rand, ref *State, hosts []Host) []byte {
	pick := func(s []string) string { return s[r.Intn(len(s))] }
	var c Command
	switch k := r.Intn(100); {
	case k < 8:
		policy := pick([]string{"majority", "any", "all"})
		placement := pick([]string{"", "placement auto"})
		conf := fmt.Sprintf(randConfTmpl, policy, placement)
		if r.Intn(4) == 0 {
			conf = strings.Replace(conf, "lb_algo wrr", "lb_algo wlc", 1)
		}
		expect := ref.ConfigVersion()
		if r.Intn(5) == 0 {
			expect = uint64(r.Intn(4))
		}
		c = SetConfig{ExpectVersion: expect, Main: mainName, Files: []File{{mainName, []byte(conf)}}, Hosts: hosts,
			Nodes: randSubset(r, randNodes)}
	case k < 55:
		rv := ReportVerdicts{Node: pick(randNodes), Full: r.Intn(6) == 0}
		for i := r.Intn(5); i > 0; i-- {
			id := randRS[r.Intn(len(randRS))]
			rv.Observations = append(rv.Observations, Observation{VS: id.VS, RS: id.RS, Up: r.Intn(3) > 0,
				Weight: r.Intn(30) - 2, Seq: uint64(r.Intn(20)), Reason: pick([]string{"", "timeout", "exit 1"})})
		}
		c = rv
	case k < 65:
		id := randRS[r.Intn(len(randRS))]
		c = SetDrain{VS: id.VS, RS: id.RS, Drained: r.Intn(2) == 0}
	case k < 72:
		c = SetMaintenance{Node: pick(randNodes), On: r.Intn(2) == 0}
	case k < 82:
		c = SetLiveNodes{Nodes: randSubset(r, randNodes)}
	case k < 87:
		var p SetPlacement
		for _, inst := range randSubset(r, []string{"v1", "v2", "v3", "gone"}) {
			ip := InstancePriorities{Instance: inst}
			for _, n := range randSubset(r, randNodes) {
				ip.Nodes = append(ip.Nodes, NodePriority{n, 1 + r.Intn(254)})
			}
			p.Priorities = append(p.Priorities, ip)
		}
		c = p
	case k < 94:
		c = TransferVIP{Instance: pick([]string{"v1", "v2", "v3", "nope"}), ToNode: pick(append(randNodes, ""))}
	case k < 97:
		return []byte(fmt.Sprintf(`{"type":"future_%d","v":1,"payload":{}}`, r.Intn(3)))
	default:
		b := make([]byte, r.Intn(40))
		r.Read(b)
		return b
	}
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRandomLogDeterminism(t *testing.T) {
	iterations, entries := 30, 300
	if testing.Short() || raceEnabled {
		iterations = 6
	}
	hosts := testHosts(t)
	for it := 0; it < iterations; it++ {
		r := rand.New(rand.NewSource(int64(it)))
		fs := []*FSM{New(Options{}), New(Options{}), New(Options{})}
		restored := New(Options{})
		mid := 1 + r.Intn(entries-1)
		var log [][]byte
		for i := 1; i <= entries; i++ {
			e := randomEntry(t, r, fs[0].State(), hosts)
			log = append(log, e)
			var results []string
			for _, f := range fs {
				res := f.ApplyCommand(uint64(i), e)
				results = append(results, fmt.Sprintf("%+v", res))
			}
			if results[0] != results[1] || results[0] != results[2] {
				t.Fatalf("seed %d entry %d: results differ: %v", it, i, results)
			}
			if i == mid {
				restore(t, restored, persist(t, fs[0]))
			} else if i > mid {
				restored.ApplyCommand(uint64(i), e)
			}
		}
		all := append(fs, restored)
		want := persist(t, all[0])
		wantTable := all[0].State().DesiredTable()
		for j, f := range all {
			if got := persist(t, f); !bytes.Equal(got, want) {
				t.Fatalf("seed %d: FSM %d snapshot differs:\n%s\n%s", it, j, got, want)
			}
			s := f.State()
			if s.DesiredTable().Digest() != wantTable.Digest() {
				t.Fatalf("seed %d: FSM %d table digest differs", it, j)
			}
			for _, n := range randNodes {
				if fmt.Sprint(s.Priorities(n)) != fmt.Sprint(all[0].State().Priorities(n)) {
					t.Fatalf("seed %d: FSM %d priorities of %s differ", it, j, n)
				}
			}
			if fmt.Sprint(s.Placement()) != fmt.Sprint(all[0].State().Placement()) {
				t.Fatalf("seed %d: FSM %d placement differs", it, j)
			}
		}
		// The derived table always passes lvs validation.
		if err := wantTable.Validate(); err != nil {
			t.Fatalf("seed %d: derived table invalid: %v", it, err)
		}
		if it == 0 {
			t.Logf("seed 0: %d entries, config v%d, %d services, %d observations, %d unknown",
				len(log), all[0].State().ConfigVersion(), len(wantTable.Services), len(all[0].State().Observations()),
				all[0].State().UnknownCommands())
		}
	}
}

// FuzzApply feeds arbitrary bytes to a configured FSM: it never panics, a
// rejected entry changes nothing but the index (and the unknown counter),
// and the snapshot still round-trips.
func FuzzApply(f *testing.F) {
	for _, c := range sampleCommands() {
		f.Add(MustEncode(c))
	}
	f.Add(MustEncode(ReportVerdicts{Node: "iwash1", Observations: []Observation{up(iwashVS, "203.0.113.11:3128", 5)}}))
	f.Add(MustEncode(SetDrain{VS: iwashVS, RS: ap("203.0.113.12:3128"), Drained: true}))
	f.Add(MustEncode(TransferVIP{Instance: "iwash", ToNode: "iwash2"}))
	f.Add(MustEncode(SetConfig{ExpectVersion: 1, Main: "m", Files: []File{{"m", []byte("virtual_server 192.0.2.1 80 {\n}\n")}}, Nodes: []string{"iwash1"}}))
	f.Add([]byte(`{"type":"future","v":1,"payload":{}}`))
	f.Add([]byte{0xff, 0x00})
	base := iwashHarness(f).state()
	f.Fuzz(func(t *testing.T, data []byte) {
		// States are immutable: every run starts from the same one.
		fsm := New(Options{})
		fsm.state.Store(base)
		res := fsm.ApplyCommand(base.Index()+1, data)
		if res.Index != base.Index()+1 {
			t.Fatalf("result index %d", res.Index)
		}
		if res.Err != nil {
			want := unchangedBut(t, base, res.Index, errors.Is(res.Err, ErrUnknownCommand))
			if !bytes.Equal(snapBytes(t, fsm.State()), want) {
				t.Fatalf("rejected entry (%v) changed the state", res.Err)
			}
			return
		}
		_ = fsm.State().DesiredTable()
		_ = fsm.State().Placement()
		b := persist(t, fsm)
		g := New(Options{})
		restore(t, g, b)
		if !bytes.Equal(persist(t, g), b) {
			t.Fatal("snapshot does not round-trip")
		}
	})
}

var _ raft.SnapshotSink = (*memSink)(nil)

// FuzzRestore feeds arbitrary snapshots to the decoder: it never panics,
// and whatever it accepts re-encodes to a fixed point.
func FuzzRestore(f *testing.F) {
	h := iwashHarness(f)
	h.report("iwash1", up(iwashVS, "203.0.113.11:3128", 10))
	h.must(SetDrain{VS: iwashVS, RS: ap("203.0.113.13:3128"), Drained: true})
	h.must(SetPlacement{Priorities: []InstancePriorities{{"iwash", []NodePriority{{"iwash1", 120}}}}})
	f.Add(persist(f, h.f))
	f.Add(persist(f, New(Options{})))
	f.Add([]byte(`{"format":1,"live_nodes":["b","a","a"],"placement":[{"instance":"i","nodes":null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalSnapshot(b, DefaultParse)
		if err != nil {
			return
		}
		b1 := snapBytes(t, s)
		s2, err := UnmarshalSnapshot(b1, DefaultParse)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if b2 := snapBytes(t, s2); !bytes.Equal(b1, b2) {
			t.Fatalf("not a fixed point:\n%s\n%s", b1, b2)
		}
		_ = s.DesiredTable()
		_ = s.Placement()
		_ = s.Verdicts()
	})
}
