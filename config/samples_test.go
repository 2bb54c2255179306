package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const debianSamples = "/usr/share/doc/keepalived/samples"

// keepalivedBin returns keepalived's path, or skips (fails under CI=true,
// where the checker must run).
func keepalivedBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("keepalived"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/keepalived"); err == nil {
		return "/usr/sbin/keepalived"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("keepalived is not installed (CI=true: apt-get install keepalived)")
	}
	t.Skip("keepalived is not installed: the comparison with keepalived -t needs it")
	return ""
}

// keepalivedErrorLines runs keepalived -t on file and returns the lines it
// reports a problem on that is not a warning, an environment matter (a
// missing interface) or a notice, with keepalived's whole output.
func keepalivedErrorLines(t *testing.T, bin, file string) (lines map[int]bool, out string) {
	t.Helper()
	cmd := exec.Command(bin, "-t", "-f", file)
	b, _ := cmd.CombinedOutput() // exit status 5 for warnings and errors alike in 2.2.7
	lines = map[int]bool{}
	lineRE := regexp.MustCompile(`\(.*Line (\d+)\) (.*)`)
	for _, l := range strings.Split(string(b), "\n") {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		msg := strings.ToLower(m[2])
		if strings.Contains(msg, "warning") || strings.Contains(msg, "deprecated") || strings.Contains(msg, "interface") ||
			strings.Contains(msg, "no preference") || strings.Contains(msg, "removing") || strings.Contains(msg, "not found, ignoring") {
			continue
		}
		n := 0
		for _, c := range m[1] {
			n = n*10 + int(c-'0')
		}
		lines[n] = true
	}
	return lines, string(b)
}

// TestDebianSamples runs config check (Load, then CheckSupport) on each of
// keepalived's Debian samples: at least 22 of the 25 are accepted, and each
// refusal is one keepalived refuses too (keepalived -t reports an error, not
// a warning, on a line quadrature reports an error on), except the runtime
// refusals listed here with their reason.
func TestDebianSamples(t *testing.T) {
	// The 25 keepalived.conf.* files (the directory also holds two shell
	// scripts, which are not configurations).
	files, _ := filepath.Glob(filepath.Join(debianSamples, "keepalived.conf.*"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no samples in %s (CI=true: apt-get install keepalived)", debianSamples)
		}
		t.Skipf("no samples in %s (keepalived is not installed)", debianSamples)
	}
	bin := keepalivedBin(t)
	// Refused by the runtime, not by keepalived: accepting it would make a
	// node whose peers run keepalived with AH a second master.
	runtimeRefusal := map[string]string{
		"keepalived.conf.SSL_GET": "auth_type AH",
	}
	accepted, applied := 0, 0
	for _, f := range files {
		base := filepath.Base(f)
		cfg, warns, err := Load(f, LoadOptions{Node: "quadrature-test"})
		if err == nil {
			if errs := CheckSupport(cfg); len(errs) > 0 {
				err = errs
			}
		}
		if err == nil {
			accepted++
			if !strings.Contains(diagLines(warns), "parsed but not applied") {
				applied++
			}
			continue
		}
		if why, ok := runtimeRefusal[base]; ok {
			if !strings.Contains(err.Error(), why) {
				t.Errorf("%s: refused for another reason than %s:\n%v", base, why, err)
			}
			continue
		}
		ours := map[int]bool{}
		if el, ok := err.(ErrorList); ok {
			for _, d := range el {
				ours[d.Pos.Line] = true
			}
		}
		theirs, out := keepalivedErrorLines(t, bin, f)
		common := false
		for l := range ours {
			common = common || theirs[l]
		}
		if !common {
			t.Errorf("%s: quadrature refuses it, keepalived -t reports no error on the same lines:\nquadrature:\n%v\nkeepalived:\n%s", base, err, out)
		}
	}
	t.Logf("%d of %d samples accepted, %d of them without a keyword parsed but not applied", accepted, len(files), applied)
	if accepted < 22 {
		t.Errorf("only %d of %d samples accepted", accepted, len(files))
	}
	// 14 before static_ipaddress, static_routes, static_rules,
	// virtual_routes and virtual_rules were installed by the runtime:
	// track_interface, vrrp.routes and vrrp.static_ipaddress joined.
	if applied < 17 {
		t.Errorf("only %d accepted samples without not-applied keywords, want 17", applied)
	}
}

// TestDebianRouteSamples: the samples that use static addresses, routes
// and rules are accepted with nothing of them left unapplied.
// keepalived.conf.vrrp.rules has a typo ("to 192.168.100./24") that
// keepalived 2.2.7 reports as an error too ("Invalid rule to address")
// and skips the rule; quadrature refuses the line instead of dropping it,
// so the sample is checked with the typo fixed.
func TestDebianRouteSamples(t *testing.T) {
	if _, err := os.Stat(debianSamples); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no samples in %s (CI=true: apt-get install keepalived)", debianSamples)
		}
		t.Skipf("no samples in %s (keepalived is not installed)", debianSamples)
	}
	for _, base := range []string{"keepalived.conf.track_interface", "keepalived.conf.vrrp.routes",
		"keepalived.conf.vrrp.static_ipaddress", "keepalived.conf.vrrp.rules"} {
		b, err := os.ReadFile(filepath.Join(debianSamples, base))
		if err != nil {
			t.Fatal(err)
		}
		fixed := strings.ReplaceAll(string(b), "./24", ".0/24")
		cfg, warns, err := LoadBytes(base, []byte(fixed), LoadOptions{Node: "quadrature-test"})
		if err == nil {
			if errs := CheckSupport(cfg); len(errs) > 0 {
				err = errs
			}
		}
		if err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		for _, w := range warns {
			for _, kw := range []string{"static_ipaddress", "static_routes", "static_rules", "virtual_routes", "virtual_rules"} {
				if strings.Contains(w.Msg, kw+": parsed but not applied") {
					t.Errorf("%s: %v", base, w)
				}
			}
		}
		n := len(cfg.StaticAddresses) + len(cfg.StaticRoutes) + len(cfg.StaticRules)
		for _, in := range cfg.Instances {
			n += len(in.VirtualRoutes) + len(in.VirtualRules)
		}
		if n == 0 {
			t.Errorf("%s: no static or virtual entries read", base)
		}
	}
}

// TestMergeAcceptedByKeepalived merges the example node files and checks
// the result with keepalived -t: every virtual server keeps its protocol
// (keepalived 2.2.7 would make a service without one UDP), and keepalived
// reports no error. The merged file is checked for each node (-i), as
// keepalived would read it there.
func TestMergeAcceptedByKeepalived(t *testing.T) {
	bin := keepalivedBin(t)
	for _, nodes := range [][]string{{"tic", "tac"}, {"iwash1", "iwash2", "iwash3"}} {
		text, _ := mergeExamples(t, nodes...)
		dir := t.TempDir()
		file := filepath.Join(dir, "merged.conf")
		if err := os.WriteFile(file, text, 0o644); err != nil {
			t.Fatal(err)
		}
		// keepalived resolves host names itself and skips a real server
		// it cannot resolve (then the whole service, before it looks at
		// the protocol): give it the file with the names replaced by the
		// examples' addresses, of each virtual server's family.
		literal := filepath.Join(dir, "literal.conf")
		if err := os.WriteFile(literal, literalHosts(t, text), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, node := range nodes {
			cfg, _, err := Load(file, LoadOptions{Node: node, HostsFile: examplesHosts})
			if err != nil {
				t.Fatalf("%v: merged file does not load for %s: %v", nodes, node, err)
			}
			for _, vs := range cfg.VirtualServers {
				if vs.Protocol != "TCP" {
					t.Errorf("%s: %s protocol %s", node, vs.Ident(), vs.Protocol)
				}
			}
			// keepalived resolves the host names itself (and may not
			// here): only what says the meaning changed is checked.
			b, _ := exec.Command(bin, "-t", "-f", literal, "-i", node).CombinedOutput()
			if strings.Contains(string(b), "Invalid real server") {
				t.Fatalf("keepalived could not read the real servers:\n%s", b)
			}
			for _, l := range strings.Split(string(b), "\n") {
				lo := strings.ToLower(l)
				if strings.Contains(lo, "defaulting to udp") || strings.Contains(lo, "unknown keyword") && !strings.Contains(lo, "'cluster'") {
					t.Errorf("%v merged, node %s: keepalived -t: %s", nodes, node, l)
				}
			}
		}
	}
}

var vsLine = regexp.MustCompile(`virtual_server (\S+)`)

// literalHosts replaces the examples' host names in a merged file by their
// address of the enclosing virtual server's family.
func literalHosts(t *testing.T, text []byte) []byte {
	t.Helper()
	hosts, err := LoadHosts(examplesHosts)
	if err != nil {
		t.Fatal(err)
	}
	v6 := false
	var out []string
	for _, line := range strings.Split(string(text), "\n") {
		if m := vsLine.FindStringSubmatch(line); m != nil {
			v6 = strings.Contains(m[1], ":")
		}
		for name, addrs := range hosts {
			for _, a := range addrs {
				if a.Is6() == v6 {
					line = regexp.MustCompile(`(\s)`+regexp.QuoteMeta(name)+`(\s|$)`).ReplaceAllString(line, "${1}"+a.String()+"${2}")
				}
			}
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}
