package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDemoScriptIsolated reads deploy/demo.sh: every namespace, link and
// directory it creates carries the run's own prefix (the shell's PID), so
// two demos or a demo beside the tests never collide, and it stops only
// processes it started (kill by the PIDs it recorded or of its own
// namespaces), never by name (pkill, killall).
// cmdStart are the words after which "kill" is a command.
var cmdStart = map[string]bool{"do": true, "then": true, ";": true, "&&": true, "||": true, "-r": true, "xargs": true}

func TestDemoScriptIsolated(t *testing.T) {
	b, err := os.ReadFile("../demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	if !regexp.MustCompile(`(?m)^P=[a-z]*\$\$$`).MatchString(script) || !regexp.MustCompile(`(?m)^RUN=/run/[a-z-]*\$\$$`).MatchString(script) {
		t.Error("demo.sh: the namespace prefix P and the run directory RUN are not per run ($$)")
	}
	for i, line := range strings.Split(script, "\n") {
		code, _, _ := strings.Cut(line, "#")
		f := strings.Fields(code)
		for j, w := range f {
			switch {
			case w == "pkill" || w == "killall":
				t.Errorf("demo.sh:%d: stops processes by name: %s", i+1, line)
			case w == "netns" && j+2 < len(f) && (f[j+1] == "add" || f[j+1] == "del"):
				if !strings.HasPrefix(f[j+2], `"$P-`) {
					t.Errorf("demo.sh:%d: namespace %s without the run's prefix", i+1, f[j+2])
				}
			case w == "kill" && (j == 0 || cmdStart[f[j-1]]):
				// kill [-SIG] "$pid" / "${AGENT_PID[...]}" (PIDs the
				// demo recorded), or xargs of its own namespaces' pids.
				if j > 0 && f[j-1] == "-r" && !strings.Contains(code, `ip netns pids "$P-`) {
					t.Errorf("demo.sh:%d: kill of pids not of the demo's namespaces: %s", i+1, line)
				}
				for _, a := range f[j+1:] {
					if strings.HasPrefix(a, "2>") || a == "||" || a == ";" || a == "done" || a == "&&" {
						break
					}
					a = strings.TrimSuffix(a, ";")
					if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, `"$`) {
						t.Errorf("demo.sh:%d: kill of %s, not a PID the demo recorded: %s", i+1, a, line)
					}
				}
			}
		}
	}
	if !strings.Contains(script, "trap cleanup EXIT INT TERM") {
		t.Error("demo.sh: no cleanup on exit")
	}
}
