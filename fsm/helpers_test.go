package fsm

import (
	"net/netip"
	"os"
	"slices"
	"testing"

	"quadrature/config"
)

const mainName = "/etc/keepalived/keepalived.conf"

var iwashNodes = []string{"iwash1", "iwash2", "iwash3"}

// testHosts is testdata/hosts (the reference host names of the iWash examples).
func testHosts(t testing.TB) []Host {
	t.Helper()
	b, err := os.ReadFile("testdata/hosts")
	if err != nil {
		t.Fatal(err)
	}
	h, errs := config.ParseHosts("testdata/hosts", b)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var out []Host
	for name, addrs := range h {
		out = append(out, Host{Name: name, Addrs: addrs})
	}
	return out
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// configCmd builds a SetConfig for a one-file config.
func configCmd(t testing.TB, text string, expect uint64, nodes ...string) SetConfig {
	return SetConfig{ExpectVersion: expect, Main: mainName, Files: []File{{Name: mainName, Content: []byte(text)}},
		Hosts: testHosts(t), Nodes: nodes}
}

// harness drives one FSM with increasing indexes.
type harness struct {
	t   testing.TB
	f   *FSM
	idx uint64
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, f: New(Options{})}
}

func (h *harness) apply(c Command) Result {
	h.t.Helper()
	b, err := Encode(c)
	if err != nil {
		h.t.Fatalf("encode %T: %v", c, err)
	}
	h.idx++
	return h.f.ApplyCommand(h.idx, b)
}

func (h *harness) must(c Command) Result {
	h.t.Helper()
	r := h.apply(c)
	if r.Err != nil {
		h.t.Fatalf("apply %s: %v", c.CommandType(), r.Err)
	}
	return r
}

func (h *harness) state() *State { return h.f.State() }

// report sends one node's observations (non-full).
func (h *harness) report(node string, obs ...Observation) {
	h.t.Helper()
	h.must(ReportVerdicts{Node: node, Observations: obs})
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func up(vs, rs string, w int) Observation {
	return Observation{VS: vs, RS: ap(rs), Up: true, Weight: w}
}

func down(vs, rs string) Observation {
	return Observation{VS: vs, RS: ap(rs), Up: false, Reason: "connection refused"}
}

// destWeights returns "addr:port" -> weight of the service with key text.
func destWeights(t testing.TB, s *State, svc string) map[string]int32 {
	t.Helper()
	tbl := s.DesiredTable()
	for _, sv := range tbl.Services {
		if sv.Key.String() == svc {
			out := map[string]int32{}
			for _, d := range sv.Destinations {
				out[d.Key().String()] = d.Weight
			}
			return out
		}
	}
	var keys []string
	for _, sv := range tbl.Services {
		keys = append(keys, sv.Key.String())
	}
	t.Fatalf("service %s not in table (have %v)", svc, keys)
	return nil
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
