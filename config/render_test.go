package config

import (
	"encoding/json"
	"testing"
)

// roundTrip renders cfg, loads the text back for the same node and checks
// the models are equal.
func roundTrip(t *testing.T, name string, cfg *Config, opts LoadOptions) {
	t.Helper()
	for _, compact := range []bool{false, true} {
		text := cfg.render(compact)
		opts.Node = cfg.Node
		back, _, err := LoadBytes(name+".rendered", text, opts)
		if err != nil {
			t.Fatalf("%s (compact %v): rendered text does not load: %v\n%s", name, compact, err, text)
		}
		if d := Diff(cfg, back); d != "" {
			t.Fatalf("%s (compact %v): round trip changed the model: %s\n%s", name, compact, d, text)
		}
		if again := back.render(compact); string(again) != string(text) {
			t.Fatalf("%s (compact %v): rendering is not stable", name, compact)
		}
	}
}

func TestRenderRoundTripExamples(t *testing.T) {
	for _, tc := range []struct{ file, node string }{
		{"tic.conf", "tic"}, {"tac.conf", "tac"}, {"iwash1.conf", "iwash1"},
		{"iwash2.conf", "iwash2"}, {"iwash3.conf", "iwash3"},
	} {
		cfg, _ := loadExample(t, tc.file, tc.node)
		roundTrip(t, tc.file, cfg, LoadOptions{HostsFile: examplesHosts})
	}
}

// TestJSONRoundTrip: the JSON form decodes back to an equal model, so other
// packages may replicate it as JSON.
func TestJSONRoundTrip(t *testing.T) {
	for _, f := range []string{"testdata/realworld/misc_smtp_udp.conf", "testdata/realworld/conditional_cluster.conf", "testdata/realworld/fwmark_persistent.conf"} {
		cfg, _, err := Load(f, LoadOptions{Node: "lb1", Resolver: Hosts{}})
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := json.Unmarshal(cfg.JSON(), &back); err != nil {
			t.Fatal(err)
		}
		if d := Diff(cfg, &back); d != "" {
			t.Fatalf("%s: %s", f, d)
		}
	}
}

func TestKeys(t *testing.T) {
	cfg, _ := loadExample(t, "tic.conf", "tic")
	if k := cfg.Instances[0].Key(); k != "vrrp_instance vrid 1 eth0 inet" {
		t.Fatal(k)
	}
	if k := cfg.VirtualServers[1].Key(); k != "virtual_server 2001:db8:4503::132 42 TCP inet6" {
		t.Fatal(k)
	}
}
