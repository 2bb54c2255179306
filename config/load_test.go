package config

import (
	"path/filepath"
	"testing"
)

const examplesHosts = "testdata/examples/hosts"

func loadExample(t *testing.T, name, node string) (*Config, []Diagnostic) {
	t.Helper()
	cfg, warns, err := Load(filepath.Join("testdata/examples", name), LoadOptions{Node: node, HostsFile: examplesHosts})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cfg, warns
}

func TestExamplesLoad(t *testing.T) {
	for _, tc := range []struct {
		file, node              string
		inst, vs, rs, ck, warns int
	}{
		// The examples write "protocol TCP ; lb_algo rr": each ';' is a
		// warning (keepalived would ignore what follows it).
		{"tic.conf", "tic", 1, 2, 4, 4, 9},
		{"tac.conf", "tac", 1, 2, 4, 4, 9},
		{"iwash1.conf", "iwash1", 1, 1, 3, 3, 2},
		{"iwash2.conf", "iwash2", 1, 1, 3, 3, 2},
		{"iwash3.conf", "iwash3", 1, 1, 3, 3, 2},
	} {
		cfg, warns := loadExample(t, tc.file, tc.node)
		n := cfg.Count()
		if n != (Counts{tc.inst, tc.vs, tc.rs, tc.ck}) || len(warns) != tc.warns {
			t.Errorf("%s: counts %+v warnings %v", tc.file, n, warns)
		}
	}
}
