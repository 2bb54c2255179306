package api

import (
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	old := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nl\nm\n"
	new := "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nl\nm\nk\n"
	got := unifiedDiff("keepalived.conf", old, new)
	want := "--- a/keepalived.conf\n+++ b/keepalived.conf\n" +
		"@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n" +
		"@@ -10,3 +10,4 @@\n j\n l\n m\n+k\n"
	if got != want {
		t.Fatalf("diff:\n%s\nwant:\n%s", got, want)
	}
	if unifiedDiff("x", old, old) != "" {
		t.Fatal("equal files diffed")
	}
	if d := unifiedDiff("x", "", "one\n"); !strings.Contains(d, "@@ -1,0 +1,1 @@\n+one\n") {
		t.Fatalf("new file: %q", d)
	}
	if d := configDiff(map[string]string{"a": "1\n", "gone": "x\n"}, map[string]string{"a": "2\n"}); !strings.Contains(d, "-1\n+2\n") || !strings.Contains(d, "--- a/gone") {
		t.Fatalf("config diff: %q", d)
	}
}

func FuzzUnifiedDiff(f *testing.F) {
	f.Add("a\nb\n", "a\nc\n")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 4096 || len(b) > 4096 {
			return
		}
		d := unifiedDiff("f", a, b)
		if (a == b) != (d == "") {
			t.Fatalf("equal=%v diff=%q", a == b, d)
		}
		// Applying the hunks' '+' and ' ' lines in order rebuilds b's lines
		// that the hunks cover; at least every '+' line is a line of b.
		for _, line := range strings.Split(d, "\n") {
			if strings.HasPrefix(line, "+") && !strings.HasPrefix(line, "+++") && !strings.Contains("\n"+b+"\n", "\n"+line[1:]+"\n") {
				t.Fatalf("added line %q not in b", line[1:])
			}
		}
	})
}
