package config

import (
	"strings"
	"testing"
)

func mergeExamples(t *testing.T, nodes ...string) ([]byte, []error) {
	t.Helper()
	var in []NodeConfig
	for _, n := range nodes {
		cfg, _ := loadExample(t, n+".conf", n)
		in = append(in, NodeConfig{Node: n, Config: cfg})
	}
	return Merge(in, LoadOptions{HostsFile: examplesHosts})
}

func TestMergeIWash(t *testing.T) {
	text, problems := mergeExamples(t, "iwash1", "iwash2", "iwash3")
	if len(problems) > 0 {
		t.Fatalf("problems: %v\n%s", problems, text)
	}
	t.Logf("\n%s", text)
}

func TestMergeTicTac(t *testing.T) {
	text, problems := mergeExamples(t, "tic", "tac")
	t.Logf("\n%s", text)
	for _, p := range problems {
		t.Log(p)
	}
	if len(problems) == 0 || !strings.Contains(problems[0].Error(), "VIP 192.0.2.132") {
		t.Fatalf("problems: %v", problems)
	}
}
