package api

import (
	"fmt"
	"strconv"
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
	for _, c := range []struct{ name, old, new, want string }{
		{"equal", old, old, ""},
		{"both empty", "", "", ""},
		{"new file", "", "one\n", "--- a/x\n+++ b/x\n@@ -0,0 +1,1 @@\n+one\n"},
		{"emptied file", "one\ntwo\n", "", "--- a/x\n+++ b/x\n@@ -1,2 +0,0 @@\n-one\n-two\n"},
		{"final newline added", "a\nb", "a\nb\n", "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		{"insert at top", "b\nc\n", "a\nb\nc\n", "--- a/x\n+++ b/x\n@@ -1,2 +1,3 @@\n+a\n b\n c\n"},
		// Two changes 6 lines apart share a hunk; 7 apart do not.
		{"close changes", "1\n2\n3\n4\n5\n6\n7\n8\n", "X\n2\n3\n4\n5\n6\n7\nY\n",
			"--- a/x\n+++ b/x\n@@ -1,8 +1,8 @@\n-1\n+X\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+Y\n"},
		{"far changes", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "X\n2\n3\n4\n5\n6\n7\n8\nY\n",
			"--- a/x\n+++ b/x\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -6,4 +6,4 @@\n 6\n 7\n 8\n-9\n+Y\n"},
	} {
		if got := unifiedDiff("x", c.old, c.new); got != c.want {
			t.Errorf("%s:\n%s\nwant:\n%s", c.name, got, c.want)
		}
		if err := checkPatch(c.old, c.new, unifiedDiff("x", c.old, c.new)); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	d := configDiff(map[string]string{"a": "1\n", "gone": "x\n", "same": "s\n"}, map[string]string{"a": "2\n", "new": "n\n", "same": "s\n"})
	want = "--- a/a\n+++ b/a\n@@ -1,1 +1,1 @@\n-1\n+2\n" +
		"--- a/gone\n+++ b/gone\n@@ -1,1 +0,0 @@\n-x\n" +
		"--- a/new\n+++ b/new\n@@ -0,0 +1,1 @@\n+n\n"
	if d != want {
		t.Fatalf("config diff:\n%s\nwant:\n%s", d, want)
	}
	if ConfigDiff(map[string]string{"a": "1\n"}, map[string]string{"a": "1\n"}) != "" {
		t.Fatal("equal configurations diffed")
	}
}

// TestUnifiedDiffTooLarge: files beyond the table bound are reported as
// changed without a line diff (bounded time and memory).
func TestUnifiedDiffTooLarge(t *testing.T) {
	var a, b strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&a, "line %d\n", i)
		fmt.Fprintf(&b, "line %d\n", i*7)
	}
	d := unifiedDiff("big", a.String(), b.String())
	if !strings.Contains(d, "too large to diff line by line: 3000 lines against 3000") {
		t.Fatalf("big diff: %.200q", d)
	}
}

// checkPatch applies a unified diff of one file to old and reports how
// the result differs from new (nil when it is new): the hunks' ranges,
// counts and context lines must be right.
func checkPatch(old, new, diff string) error {
	if diff == "" {
		if old != new {
			return fmt.Errorf("no diff for different files")
		}
		return nil
	}
	src := splitLines(old)
	lines := strings.SplitAfter(diff, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "--- a/") || !strings.HasPrefix(lines[1], "+++ b/") {
		return fmt.Errorf("bad headers: %q", diff)
	}
	var out []string
	pos := 0 // next line of src to copy
	i := 2
	for i < len(lines) && lines[i] != "" {
		h := lines[i]
		var a, an, b, bn int
		if _, err := fmt.Sscanf(h, "@@ -%d,%d +%d,%d @@\n", &a, &an, &b, &bn); err != nil {
			return fmt.Errorf("hunk header %q: %v", h, err)
		}
		start := a - 1
		if an == 0 {
			start = a
		}
		if start < pos || start > len(src) {
			return fmt.Errorf("hunk %q starts at %d, before %d or past %d", h, start, pos, len(src))
		}
		out = append(out, src[pos:start]...)
		pos = start
		if got := len(out) + 1; bn > 0 && got != b {
			return fmt.Errorf("hunk %q: new side starts at line %d", h, got)
		}
		i++
		gotA, gotB := 0, 0
		for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "@@ ") {
			l := lines[i]
			kind, text := l[0], l[1:]
			if i+1 < len(lines) && lines[i+1] == "\\ No newline at end of file\n" {
				text = strings.TrimSuffix(text, "\n")
				i++
			}
			i++
			switch kind {
			case ' ', '-':
				if pos >= len(src) || src[pos] != text {
					return fmt.Errorf("hunk %q: line %d is not %q", h, pos+1, text)
				}
				pos++
				gotA++
				if kind == ' ' {
					out = append(out, text)
					gotB++
				}
			case '+':
				out = append(out, text)
				gotB++
			default:
				return fmt.Errorf("bad line %q", l)
			}
		}
		if gotA != an || gotB != bn {
			return fmt.Errorf("hunk %q has %d/%d lines", h, gotA, gotB)
		}
	}
	out = append(out, src[pos:]...)
	if got := strings.Join(out, ""); got != new {
		return fmt.Errorf("patched: %s, want %s", strconv.Quote(got), strconv.Quote(new))
	}
	return nil
}

// FuzzUnifiedDiff: the diff of two files, applied to the first, gives the
// second; it is "" exactly when they are equal.
func FuzzUnifiedDiff(f *testing.F) {
	f.Add("a\nb\n", "a\nc\n")
	f.Add("", "x")
	f.Add("x", "x\n")
	f.Add("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "X\n2\n3\n4\n5\n6\n7\n8\nY\n")
	f.Add("vrrp_instance VI_1 {\n  priority 100\n}\n", "vrrp_instance VI_1 {\n  priority 150\n}\n\\ No newline at end of file\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 4096 || len(b) > 4096 {
			return
		}
		d := unifiedDiff("f", a, b)
		if (a == b) != (d == "") {
			t.Fatalf("equal=%v diff=%q", a == b, d)
		}
		if err := checkPatch(a, b, d); err != nil {
			t.Fatalf("%v\ndiff:\n%s", err, d)
		}
	})
}
