package debian

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"quadrature/config"
	"quadrature/internal/netnstest"
)

var (
	debOnce sync.Once
	debPath string
	debErr  error
	debOut  []byte
)

// buildDeb builds the package once per test binary (bash build.sh).
func buildDeb(t *testing.T) string {
	t.Helper()
	netnstest.RequireBinary(t, "dpkg-deb")
	debOnce.Do(func() {
		dir, err := os.MkdirTemp("", "quadrature-deb-test")
		if err != nil {
			debErr = err
			return
		}
		start := time.Now()
		debOut, debErr = exec.Command("bash", "build.sh", dir).CombinedOutput()
		if debErr == nil {
			debPath = strings.TrimSpace(string(debOut))
			t.Logf("make deb: %s in %v", filepath.Base(debPath), time.Since(start).Round(time.Millisecond))
		}
	})
	if debErr != nil {
		t.Fatalf("build.sh: %v\n%s", debErr, debOut)
	}
	return debPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if debPath != "" {
		os.RemoveAll(filepath.Dir(debPath))
	}
	os.Exit(code)
}

// The package's contents, and lintian --pedantic (info tags included)
// finds nothing that is not overridden with a reason.
func TestPackageContentsAndLintian(t *testing.T) {
	deb := buildDeb(t)
	out, err := exec.Command("dpkg-deb", "-c", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v\n%s", err, out)
	}
	for _, want := range []string{"./usr/bin/quadrature", "./lib/systemd/system/quadrature.service",
		"./usr/share/man/man8/quadrature.8.gz", "./usr/share/man/man5/quadrature.conf.5.gz",
		"./usr/share/bash-completion/completions/quadrature", "./usr/share/zsh/vendor-completions/_quadrature",
		"./etc/quadrature/keepalived.conf.example", "./etc/default/quadrature",
		"./usr/share/doc/quadrature/copyright", "./usr/share/doc/quadrature/changelog.gz",
		"./usr/share/doc/quadrature/examples/root-scripts.conf"} {
		if !regexp.MustCompile(`(?m) ` + regexp.QuoteMeta(want) + `$`).Match(out) {
			t.Errorf("the package lacks %s", want)
		}
	}
	if strings.Contains(string(out), "./var/lib/quadrature") {
		t.Errorf("the package ships the state directory (systemd creates it)")
	}
	lintian := netnstest.RequireBinary(t, "lintian")
	res, err := exec.Command(lintian, "--pedantic", "--display-info", "--display-experimental", deb).CombinedOutput()
	var tags []string
	for _, l := range strings.Split(string(res), "\n") {
		if l == "" || strings.HasPrefix(l, "N:") || strings.Contains(l, "running with root privileges") {
			continue
		}
		tags = append(tags, l)
	}
	if err != nil || len(tags) > 0 {
		t.Errorf("lintian (%v):\n%s", err, strings.Join(tags, "\n"))
	}
	t.Logf("lintian --pedantic -I -E: %d tags", len(tags))
}

// The example configuration is valid as shipped.
func TestExampleConfig(t *testing.T) {
	cfg, diags, err := config.Load("keepalived.conf.example", config.LoadOptions{})
	for _, d := range diags {
		t.Errorf("example: %s", d.String())
	}
	if err != nil {
		t.Fatalf("keepalived.conf.example: %v", err)
	}
	if n := cfg.Count(); n.Instances != 1 || n.VirtualServers != 1 {
		t.Errorf("example: %+v", n)
	}
}

// The unit names what the package installs, and says what the issue
// and the man page promise.
func TestUnitFile(t *testing.T) {
	b, err := os.ReadFile("../quadrature.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"Type=notify", "WatchdogSec=30s", "ExecReload=/bin/kill -HUP $MAINPID",
		"ExecStart=/usr/bin/quadrature agent -config ${QUADRATURE_CONFIG} $QUADRATURE_OPTS",
		"ProtectSystem=strict", "StateDirectory=quadrature", "ReadWritePaths=-/var/lib/quadrature",
		"CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
		"AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes",
		"User=quadrature", "ConditionPathExists=/etc/quadrature/keepalived.conf", "Restart=on-failure"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("quadrature.service lacks %q", want)
		}
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// verify needs the binary where the unit says: check a copy that
		// points at a stand-in.
		dir := t.TempDir()
		stand := filepath.Join(dir, "quadrature")
		os.WriteFile(stand, []byte("#!/bin/sh\n"), 0o755)
		u := strings.ReplaceAll(unit, "/usr/bin/quadrature", stand)
		p := filepath.Join(dir, "quadrature.service")
		os.WriteFile(p, []byte(u), 0o644)
		out, err := exec.Command(sa, "verify", "--man=no", p).CombinedOutput()
		// Outside a systemd-booted host verify may complain about the
		// host; only complaints about our file count.
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "quadrature.service:") {
				t.Errorf("systemd-analyze verify: %s", l)
			}
		}
		_ = err
	}
}

// The man pages render without groff warnings and document every
// command, agent flag and cluster keyword.
func TestManPages(t *testing.T) {
	groff := netnstest.RequireBinary(t, "groff")
	for _, p := range []string{"../man/quadrature.8", "../man/quadrature.conf.5"} {
		// -ww: all warnings; -z: no output but the diagnostics.
		out, err := exec.Command(groff, "-man", "-ww", "-z", "-Tutf8", p).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("groff -man -ww %s: %v\n%s", p, err, out)
		}
	}
	page8, _ := os.ReadFile("../man/quadrature.8")
	text8 := unroff(string(page8))
	bin := filepath.Join(t.TempDir(), "quadrature")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/quadrature").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	help, _ := exec.Command(bin, "help").CombinedOutput()
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z][a-z-]*) `).FindAllStringSubmatch(string(help), -1) {
		if !regexp.MustCompile(`(?m)(^|, +)` + regexp.QuoteMeta(m[1]) + `\b`).MatchString(text8) {
			t.Errorf("quadrature(8) has no entry for the command %s", m[1])
		}
	}
	agentHelp, _ := exec.Command(bin, "agent", "-help").CombinedOutput()
	for _, m := range regexp.MustCompile(`(?m)^  (-[a-z-]+)`).FindAllStringSubmatch(string(agentHelp), -1) {
		if !strings.Contains(text8, m[1]) {
			t.Errorf("quadrature(8) does not document agent flag %s", m[1])
		}
	}
	page5, _ := os.ReadFile("../man/quadrature.conf.5")
	text5 := unroff(string(page5))
	var keys []string
	for _, typ := range []reflect.Type{reflect.TypeOf(config.Cluster{}), reflect.TypeOf(config.ClusterTLS{}), reflect.TypeOf(config.ClusterAPI{})} {
		for i := 0; i < typ.NumField(); i++ {
			k, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if k == "" || k == "-" || k == "peer_names" { // peer_names: the host names of peers
				continue
			}
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(k) + `\b`).MatchString(text5) {
			t.Errorf("quadrature.conf(5) does not document cluster keyword %s", k)
		}
	}
	t.Logf("man pages: %d cluster keywords documented", len(keys))
}

// unroff drops roff requests' dots and font escapes, enough to search a
// page's words.
func unroff(s string) string {
	s = regexp.MustCompile(`\\f[BIRP]`).ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, `\-`, "-")
	s = regexp.MustCompile(`(?m)^\.(BR|RB|IR|RI|BI|IB|TP|PP|RS|RE|nf|fi|br|SH|TH|B|I)\b ?`).ReplaceAllString(s, "")
	return strings.ReplaceAll(s, `"`, "")
}

// deploy/deps.sh never stops or kills what it did not start: no
// pkill/killall/systemctl stop in it, and a keepalived running beside it
// (started here, in a namespace) is still running afterwards.
func TestDepsLeavesRunningServicesAlone(t *testing.T) {
	b, err := os.ReadFile("../deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`\bpkill\b`, `\bkillall\b`, `\bkill\b`, `systemctl\s+(stop|kill|restart|disable|mask)`,
		`\bservice\s+\S+\s+(stop|restart)`, `invoke-rc\.d\s+\S+\s+stop`} {
		for i, l := range strings.Split(string(b), "\n") {
			code, _, _ := strings.Cut(l, "#")
			if regexp.MustCompile(bad).MatchString(code) {
				t.Errorf("deps.sh:%d: %s", i+1, strings.TrimSpace(l))
			}
		}
	}
	netnstest.RequireRoot(t)
	kd := netnstest.RequireBinary(t, "keepalived")
	lab := netnstest.NewLab(t)
	h := lab.AddHost("ka", "192.0.2.1/24")
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	os.WriteFile(conf, []byte("vrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n"+
		" advert_int 1\n virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n"), 0o644)
	pidf := filepath.Join(dir, "keepalived.pid")
	cmd := h.Command(kd, "--dont-fork", "--log-console", "-f", conf, "-p", pidf,
		"-r", filepath.Join(dir, "vrrp.pid"), "-c", filepath.Join(dir, "checkers.pid"))
	if err := h.Start(cmd); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if !alive(cmd.Process.Pid) {
		t.Fatalf("keepalived did not start")
	}
	out, err := exec.Command("bash", "../deps.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("deps.sh: %v\n%s", err, out)
	}
	if !alive(cmd.Process.Pid) {
		t.Fatalf("keepalived (pid %d) is gone after deps.sh:\n%s", cmd.Process.Pid, out)
	}
	t.Logf("keepalived pid %d still running after deps.sh (%s)", cmd.Process.Pid, strings.TrimSpace(tail(string(out), 1)))
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && !strings.HasPrefix(rest, "Z")
}
