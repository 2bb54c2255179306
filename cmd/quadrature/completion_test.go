package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestComplete(t *testing.T) {
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"co"}, []string{"completion", "config"}},
		{[]string{"__"}, nil}, // hidden
		{[]string{"config", ""}, []string{"check", "show", "merge", "get", "put", "validate"}},
		{[]string{"snapshot", "re"}, []string{"restore"}},
		{[]string{"maintenance", "n1", ""}, []string{"on", "off"}},
		{[]string{"maintenance", "-api", "127.0.0.1:9900", "n1", "o"}, []string{"on", "off"}},
		{[]string{"maintenance", ""}, nil}, // NODE: no candidates
		{[]string{"config", "put", "-i"}, []string{"-if-match"}},
		{[]string{"status", "-a"}, []string{"-all", "-api"}},
		{[]string{"drain", "-api", "x", ""}, nil},
		{[]string{"nosuch", ""}, nil},
	} {
		got := complete(c.words)
		if !slices.Equal(got, c.want) {
			t.Errorf("complete(%q) = %q, want %q", c.words, got, c.want)
		}
	}
	// Every command's flags include the connection flags where it has them.
	if f := flagsOf("snapshot", "save"); !has(f, "-force") || f["-force"] || !f["-api"] {
		t.Errorf("snapshot save: want -force (no value) and -api (a value): %v", f)
	}
	if f := flagsOf("status", ""); !has(f, "-all") || f["-all"] || !f["-api"] {
		t.Errorf("status: -all takes no value, -api does: %v", f)
	}
}

// The verbs table matches what each command's usage says it takes.
func TestCompletionVerbsMatchUsage(t *testing.T) {
	for name, c := range commands {
		if c.hidden {
			continue
		}
		code, out, errs := runCLI(name, "-help")
		help := out + errs
		// "quadrature config check ...", "quadrature raft add-voter ..."
		re := regexp.MustCompile(`(?m)^\s*quadrature ` + regexp.QuoteMeta(name) + ` ([a-z][a-z|-]*)\b`)
		var found []string
		for _, m := range re.FindAllStringSubmatch(help, -1) {
			for _, v := range strings.Split(m[1], "|") {
				if !slices.Contains(found, v) {
					found = append(found, v)
				}
			}
		}
		want := slices.Clone(verbs[name])
		if name == "maintenance" { // NODE on|off: the verb is the second word
			found = []string{"on", "off"}
			if !strings.Contains(help, "NODE on|off") {
				t.Errorf("maintenance usage changed: %s", help)
			}
		}
		sort.Strings(found)
		sort.Strings(want)
		if !slices.Equal(found, want) {
			t.Errorf("%s (exit %d): usage names verbs %q, completion offers %q", name, code, found, want)
		}
	}
}

// The bash script, sourced in a real bash, completes through the binary.
func TestBashCompletionScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "quadrature")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	script := filepath.Join(dir, "quadrature.bash")
	out, err := exec.Command(bin, "completion", "bash").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, out, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ line, want string }{
		{"quadrature con", "config"},
		{"quadrature snapshot ", "inspect restore save"},
		{"quadrature config put -if", "-if-match"},
		{"quadrature maintenance n1 o", "off on"},
	} {
		words := strings.Fields(c.line)
		if strings.HasSuffix(c.line, " ") {
			words = append(words, "")
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := "source " + script + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_quadrature\nprintf '%s\\n' \"${COMPREPLY[@]}\" | sort | tr '\\n' ' '\n"
		cmd := exec.Command(bash, "--norc", "-c", prog)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", c.line, err, got)
		}
		if strings.TrimSpace(string(got)) != c.want {
			t.Errorf("%q: COMPREPLY %q, want %q", c.line, strings.TrimSpace(string(got)), c.want)
		}
	}
	// zsh is not installed everywhere: at least check the script's shape.
	z, err := exec.Command(bin, "completion", "zsh").Output()
	if err != nil || !strings.HasPrefix(string(z), "#compdef quadrature\n") {
		t.Fatalf("zsh script: %v %q", err, z)
	}
	if zsh, err := exec.LookPath("zsh"); err == nil {
		zf := filepath.Join(dir, "_quadrature")
		os.WriteFile(zf, z, 0o644)
		if out, err := exec.Command(zsh, "-n", zf).CombinedOutput(); err != nil {
			t.Errorf("zsh -n: %v\n%s", err, out)
		}
	}
}

func has(m map[string]bool, k string) bool { _, ok := m[k]; return ok }
