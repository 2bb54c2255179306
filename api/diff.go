package api

import (
	"fmt"
	"slices"
	"strings"
)

// maxDiffCells bounds the LCS table of one file's diff (lines × lines);
// larger files are reported as changed without the line diff.
const maxDiffCells = 4 << 20

// unifiedDiff returns a unified diff (3 lines of context) from old to new,
// with file headers named name; "" when they are equal.
func unifiedDiff(name, old, new string) string {
	if old == new {
		return ""
	}
	a, b := splitLines(old), splitLines(new)
	var out strings.Builder
	fmt.Fprintf(&out, "--- a/%s\n+++ b/%s\n", name, name)
	if int64(len(a)+1)*int64(len(b)+1) > maxDiffCells {
		fmt.Fprintf(&out, "@@ -1,%d +1,%d @@\n(too large to diff line by line: %d lines against %d)\n", len(a), len(b), len(a), len(b))
		return out.String()
	}
	ops := lineOps(a, b)
	const ctx = 3
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		// A hunk: from ctx lines before the change to ctx after the last
		// change that is within 2*ctx of the previous one.
		start := max(i-ctx, 0)
		end := i
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j
			} else if j-end > 2*ctx {
				break
			}
		}
		stop := min(end+ctx+1, len(ops))
		aStart, bStart, aN, bN := ops[start].a, ops[start].b, 0, 0
		var body strings.Builder
		for _, op := range ops[start:stop] {
			body.WriteByte(op.kind)
			body.WriteString(op.text)
			if !strings.HasSuffix(op.text, "\n") {
				body.WriteString("\n\\ No newline at end of file\n")
			}
			if op.kind != '+' {
				aN++
			}
			if op.kind != '-' {
				bN++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n%s", hunkRange(aStart, aN), hunkRange(bStart, bN), body.String())
		i = stop
	}
	return out.String()
}

// hunkRange formats a hunk's range as diff -u does: "START,N" with a
// 1-based START, or for an empty range the line before it ("0,0" at the
// top of a file).
func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

type lineOp struct {
	kind byte // ' ', '-', '+'
	text string
	a, b int // 0-based positions in old and new before this op
}

// lineOps is the edit script of a longest common subsequence.
func lineOps(a, b []string) []lineOp {
	n, m := len(a), len(b)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []lineOp
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, lineOp{' ', a[i], i, j})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, lineOp{'-', a[i], i, j})
			i++
		default:
			ops = append(ops, lineOp{'+', b[j], i, j})
			j++
		}
	}
	return ops
}

// splitLines splits s into lines that keep their "\n" (the last one may
// have none), so that a missing final newline is a difference.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// ConfigDiff is the unified diff (3 lines of context, "--- a/NAME" and
// "+++ b/NAME" headers) of every file of two configurations (file name →
// content), in name order; a file only on one side is diffed against
// nothing. "" when they are the same.
func ConfigDiff(old, new map[string]string) string { return configDiff(old, new) }

// configDiff diffs every file of two configuration sources (name →
// content), in name order.
func configDiff(old, new map[string]string) string {
	names := map[string]bool{}
	for n := range old {
		names[n] = true
	}
	for n := range new {
		names[n] = true
	}
	keys := make([]string, 0, len(names))
	for n := range names {
		keys = append(keys, n)
	}
	slices.Sort(keys)
	var out strings.Builder
	for _, n := range keys {
		out.WriteString(unifiedDiff(n, old[n], new[n]))
	}
	return out.String()
}
