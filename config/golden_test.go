package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata/golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./config -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if intended):\n%s", name, lineDiff(string(want), string(got)))
	}
}

func lineDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, x, y)
		}
	}
	return ""
}

func TestGoldenExamples(t *testing.T) {
	for _, tc := range []struct{ file, node string }{
		{"tic.conf", "tic"}, {"tac.conf", "tac"}, {"iwash1.conf", "iwash1"},
		{"iwash2.conf", "iwash2"}, {"iwash3.conf", "iwash3"},
	} {
		cfg, warns := loadExample(t, tc.file, tc.node)
		base := strings.TrimSuffix(tc.file, ".conf")
		golden(t, base+".conf.golden", cfg.Render())
		golden(t, base+".json.golden", cfg.JSON())
		var w bytes.Buffer
		for _, d := range warns {
			w.WriteString(d.String() + "\n")
		}
		golden(t, base+".warnings.golden", w.Bytes())
	}
}

func TestGoldenMerge(t *testing.T) {
	text, problems := mergeExamples(t, "iwash1", "iwash2", "iwash3")
	if len(problems) != 0 {
		t.Fatalf("iwash merge problems: %v", problems)
	}
	golden(t, "merge-iwash.conf.golden", text)
	text, problems = mergeExamples(t, "tic", "tac")
	var p bytes.Buffer
	for _, e := range problems {
		p.WriteString(e.Error() + "\n")
	}
	golden(t, "merge-tictac.conf.golden", text)
	golden(t, "merge-tictac.problems.golden", p.Bytes())
}
