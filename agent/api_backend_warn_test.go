package agent

import (
	"slices"
	"testing"

	"quadrature/api"
	"quadrature/fsm"
)

// A candidate's warnings, as every node evaluates it: each once, in file
// and line order, a node's own @NAME lines included.
func TestCandidateWarnings(t *testing.T) {
	main := "vrrp_instance VI_1 {\n" +
		"  interface eth0\n" +
		"  virtual_router_id 51\n" +
		"  @n1 state MASTER\n" +
		"  @n1 priority 200\n" +
		"  @n2 priority 100\n" +
		"  nopreempt 1\n" +
		"  virtual_ipaddress {\n    192.0.2.10/24\n  }\n" +
		"}\n" +
		"include extra/*.conf\n"
	cmd := fsm.SetConfig{Main: "keepalived.conf", Nodes: []string{"n1", "n2"},
		Files: []fsm.File{{Name: "keepalived.conf", Content: []byte(main)}}}
	cand, err := fsm.New(fsm.Options{}).Compile(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if errs := supportErrors(cand, "none"); len(errs) > 0 {
		t.Fatal(errs)
	}
	ws := apiWarnings(cand.Warnings())
	if len(ws) == 0 {
		t.Fatal("no warnings")
	}
	lines := map[int]int{}
	for _, w := range ws {
		if w.File != "keepalived.conf" || w.Line == 0 || w.Message == "" {
			t.Errorf("warning %+v", w)
		}
		lines[w.Line]++
	}
	// nopreempt 1 (line 7) and the include matching nothing (line 12)
	// are said once although both nodes see them.
	for _, l := range []int{7, 12} {
		if lines[l] != 1 {
			t.Errorf("line %d warned %d times: %+v", l, lines[l], ws)
		}
	}
	if !slices.IsSortedFunc(ws, func(a, b api.ConfigError) int { return a.Line - b.Line }) {
		t.Errorf("not in line order: %+v", ws)
	}
	t.Logf("%+v", ws)
}
