package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ex = "../../config/testdata/examples/"

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigCheck(t *testing.T) {
	code, out, errs := runCmd("config", "check", "-hosts", ex+"hosts", "-node", "tic", ex+"tic.conf")
	if code != 0 || out != "ok: 1 vrrp instances, 2 virtual servers, 4 real servers, 4 checkers\n" {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	if !strings.Contains(errs, ex+"tic.conf:8: warning: vrrp_instance tic: 2001:db8:4503::132/64") {
		t.Fatalf("stderr %q", errs)
	}
	// Flags after the files are accepted too.
	code, out, _ = runCmd("config", "check", ex+"iwash1.conf", ex+"iwash2.conf", "-hosts", ex+"hosts")
	if code != 0 || strings.Count(out, ": ok: 1 vrrp instances, 1 virtual servers, 3 real servers, 3 checkers") != 2 {
		t.Fatalf("exit %d stdout %q", code, out)
	}
}

func TestConfigCheckErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	src := "vrrp_instance VI_1 {\n  virtual_router 51\n  priority 300\n  track_bfd {\n    b1\n  }\n  virtual_ipaddress {\n    192.0.2.1\n  }\n  interface eth0\n}\n"
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd("config", "check", "-node", "x", bad)
	want := bad + `:1: vrrp_instance VI_1 has no virtual_router_id` + "\n" +
		bad + `:2: unknown keyword "virtual_router" in vrrp_instance (did you mean "virtual_router_id"?)` + "\n" +
		bad + `:3: priority 300 out of range (1-255)` + "\n" +
		bad + `:4: not supported: track_bfd (BFD is not implemented)` + "\n"
	if code != 1 || out != "" || errs != want {
		t.Fatalf("exit %d\nstdout %q\nstderr:\n%s\nwant:\n%s", code, out, errs, want)
	}
}

func TestConfigShowAndUsage(t *testing.T) {
	code, out, errs := runCmd("config", "show", "-format", "json", "-hosts", ex+"hosts", "-node", "iwash1", ex+"iwash1.conf")
	if code != 0 || !strings.Contains(out, `"misc_path": "/opt/bin/iweight -p iwash2"`) {
		t.Fatalf("exit %d stderr %q", code, errs)
	}
	code, out, _ = runCmd("config", "show", "-hosts", ex+"hosts", "-node", "iwash1", ex+"iwash1.conf")
	if code != 0 || !strings.Contains(out, "real_server iwash3 3128 {") {
		t.Fatalf("exit %d out %q", code, out)
	}
	code, out, _ = runCmd("config", "show", "-compact", "-hosts", ex+"hosts", "-node", "iwash1", ex+"iwash1.conf")
	if code != 0 || strings.Contains(out, "delay_loop") || !strings.Contains(out, "  priority 150\n") {
		t.Fatalf("compact exit %d out %q", code, out)
	}
	if code, _, _ := runCmd("config", "show", "-format", "yaml", ex+"iwash1.conf"); code != 2 {
		t.Fatalf("bad format exit %d", code)
	}
	if code, out, _ := runCmd("config", "-help"); code != 0 || !strings.Contains(out, "config merge") {
		t.Fatalf("help exit %d", code)
	}
	if code, _, _ := runCmd("config", "check", "-help"); code != 0 {
		t.Fatalf("check -help exit %d", code)
	}
	if code, _, _ := runCmd("config", "frobnicate"); code != 2 {
		t.Fatalf("unknown subcommand exit %d", code)
	}
}

func TestConfigMerge(t *testing.T) {
	code, out, errs := runCmd("config", "merge", "-hosts", ex+"hosts",
		"-node", "iwash1", ex+"iwash1.conf", "-node", "iwash2", ex+"iwash2.conf", "-node=iwash3", ex+"iwash3.conf")
	if code != 0 || strings.Contains(errs, "problem") || !strings.Contains(out, "@iwash1   priority 150\n@iwash3   priority 50\n") {
		t.Fatalf("iwash merge exit %d\nstderr %s\nstdout %s", code, errs, out)
	}
	code, out, errs = runCmd("config", "merge", "-hosts", ex+"hosts", "-node", "tic", ex+"tic.conf", "-node", "tac", ex+"tac.conf")
	if code != 1 || !strings.Contains(errs, "problem: VIP 192.0.2.132 is in vrrp_instance tic (virtual_router_id 1, eth0) on tic but in vrrp_instance tac (virtual_router_id 2, eth0) on tac") || !strings.Contains(out, "@tac vrrp_instance tac {") {
		t.Fatalf("tic/tac merge exit %d\nstderr %s", code, errs)
	}
	if code, _, _ := runCmd("config", "merge", "-node", "a"); code != 2 {
		t.Fatalf("incomplete pair exit %d", code)
	}
}

// TestConfigShowGolden: config show prints exactly the golden files of
// package config (which regenerates them with go test ./config -update).
func TestConfigShowGolden(t *testing.T) {
	for _, node := range []string{"tic", "tac", "iwash1", "iwash2", "iwash3"} {
		for _, format := range []string{"conf", "json"} {
			code, out, errs := runCmd("config", "show", "-format", format, "-hosts", ex+"hosts", "-node", node, ex+node+".conf")
			want, err := os.ReadFile("../../config/testdata/golden/" + node + "." + format + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			if code != 0 || out != string(want) {
				t.Errorf("config show -format %s %s: exit %d, stderr %q, output differs from the golden file", format, node, code, errs)
			}
		}
	}
}

// A file that cannot be read is named, with the reason, in FILE: form.
func TestConfigCheckUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	for path, want := range map[string]string{
		dir + "/nonexistent.conf": dir + "/nonexistent.conf: cannot read the configuration: no such file or directory\n",
		dir:                       dir + ": cannot read the configuration: is a directory\n",
	} {
		code, _, errs := runCLI("config", "check", path)
		if code != 1 || errs != want {
			t.Errorf("config check %s: exit %d, stderr %q, want %q", path, code, errs, want)
		}
	}
}
