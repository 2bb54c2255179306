package config

import (
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
