package debian

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"quadrature/deploy/monitoring"
	"quadrature/internal/clustertest"
	"quadrature/internal/netnstest"
)

// rootfsPackages are what the test's Debian needs besides the package's
// own dependencies (apt would install adduser and procps; dpkg -i checks
// them): systemd as init, and nftables (the package recommends
// it; the host kernel of the tests has no IPVS).
var rootfsPackages = []string{"systemd", "systemd-sysv", "dbus", "iproute2", "adduser", "procps", "nftables"}

// rootfsTarball returns a Debian root file system with systemd as a
// tarball, made by mmdebstrap from the host's release (cached in
// deploy/debian/cache/, which git ignores).
func rootfsTarball(t *testing.T) string {
	t.Helper()
	mm := netnstest.RequireBinary(t, "mmdebstrap")
	suite := "bookworm"
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		if m := regexp.MustCompile(`(?m)^VERSION_CODENAME=(\w+)$`).FindSubmatch(b); m != nil {
			suite = string(m[1])
		}
	}
	cache, err := filepath.Abs("cache")
	if err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(cache, fmt.Sprintf("%s-%s.tar", suite, strings.Join(rootfsPackages, "-")))
	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := strings.TrimSuffix(tarball, ".tar") + ".partial.tar" // mmdebstrap picks the format by extension
	start := time.Now()
	out, err := exec.Command(mm, "--variant=apt", "--include="+strings.Join(rootfsPackages, ","), suite, tmp).CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		netnstest.SkipOrFail(t, "mmdebstrap %s (needs a Debian mirror): %v\n%s", suite, err, tail(string(out), 20))
	}
	if err := os.Rename(tmp, tarball); err != nil {
		t.Fatal(err)
	}
	t.Logf("root file system %s made in %v", filepath.Base(tarball), time.Since(start).Round(time.Second))
	return tarball
}

// container is one Debian booted with systemd in systemd-nspawn, in a
// network namespace of the lab.
type container struct {
	t      *testing.T
	name   string // machine name (unique per test run)
	short  string // the node's name: n1, n2, n3
	dir    string // its root file system
	ns     *netnstest.NS
	cmd    *exec.Cmd
	leader int // the container's PID 1, as the host sees it
	log    string
	done   chan struct{}
}

func bootContainer(t *testing.T, nspawn, tarball, name, short string, ns *netnstest.NS, setup func(dir string)) *container {
	t.Helper()
	c := &container{t: t, name: name, short: short, ns: ns, dir: filepath.Join(t.TempDir(), "root"), done: make(chan struct{})}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-C", c.dir, "-xf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("extract %s: %v\n%s", tarball, err, out)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "etc/hostname"), []byte(short+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(c.dir)
	}
	c.log = filepath.Join(t.TempDir(), name+".console")
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(nspawn, "-D", c.dir, "--machine="+name, "--register=no", "--keep-unit", "--boot",
		"--console=pipe", "--network-namespace-path=/run/netns/"+ns.Name,
		// A director needs CAP_NET_ADMIN, which nspawn grants only with
		// --private-network.
		"--capability=CAP_NET_ADMIN")
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("systemd-nspawn: %v", err)
	}
	go func() { c.cmd.Wait(); logf.Close(); close(c.done) }()
	t.Cleanup(c.stop)
	// PID 1 of the container is nspawn's child.
	err = poll(20*time.Second, func() error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", c.cmd.Process.Pid, c.cmd.Process.Pid))
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "/systemd") {
				c.leader = pid
				return nil
			}
		}
		return fmt.Errorf("no systemd child yet (%q)", b)
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, c.console())
	}
	return c
}

func (c *container) console() string {
	b, _ := os.ReadFile(c.log)
	return tail(string(b), 30)
}

// run runs a command inside the container (all its namespaces) with a
// clean environment and returns its combined output.
func (c *container) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"-t", strconv.Itoa(c.leader), "-a", "env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SYSTEMD_PAGER=", "TERM=dumb"}, args...)
	out, err := exec.CommandContext(ctx, "nsenter", full...).CombinedOutput()
	return string(out), err
}

func (c *container) mustRun(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("%s: %s: %v\n%s", c.short, strings.Join(args, " "), err, out)
	}
	return out
}

// show returns systemctl show properties of the unit.
func (c *container) show(unit string, props ...string) map[string]string {
	c.t.Helper()
	args := []string{"systemctl", "show", unit}
	for _, p := range props {
		args = append(args, "-p", p)
	}
	out := c.mustRun(args...)
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// stop powers the container off, then kills what is left of it.
func (c *container) stop() {
	if c.t.Failed() && c.leader != 0 {
		j, _ := c.run("journalctl", "-u", "quadrature", "--no-pager", "-p", "warning", "-n", "40")
		r, _ := c.run("nft", "list", "ruleset")
		c.t.Logf("%s: quadrature's warnings and errors:\n%s\nnft list ruleset:\n%s", c.short, j, tail(r, 40))
	}
	if c.leader != 0 {
		c.run("systemctl", "poweroff", "--no-block")
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		if c.leader != 0 {
			syscall.Kill(c.leader, syscall.SIGKILL) // PID 1 gone: the kernel ends its namespace
		}
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.done
		}
	}
	os.RemoveAll("/run/systemd/nspawn/propagate/" + c.name)
	if c.t.Failed() {
		c.t.Logf("%s console (tail):\n%s", c.short, c.console())
	}
}

// poll is clustertest.Poll at the test's interval.
func poll(timeout time.Duration, cond func() error) error {
	return clustertest.Poll(timeout, 250*time.Millisecond, cond)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// groupConfig is the test group's file for the packaged layout (data in
// /var/lib/quadrature, credentials in /etc/quadrature/credentials).
func groupConfig(n int, weight int) string {
	var nodes []clustertest.NodeParams
	var all []netip.Addr
	for i := 1; i <= n; i++ {
		all = append(all, clustertest.NodeAddr(i))
	}
	for i := 1; i <= n; i++ {
		nodes = append(nodes, clustertest.NodeParams{Name: clustertest.NodeName(i), Addr: clustertest.NodeAddr(i),
			DataDir: "/var/lib/quadrature", Priority: clustertest.NodePriority(i), Peers: all,
			Credentials: "/etc/quadrature/credentials"})
	}
	return clustertest.DefaultConfig(clustertest.ConfigParams{Nodes: nodes, Initial: n,
		Options: clustertest.Options{Weight: weight}})
}

// apiClient talks to a node's API over TLS from the client namespace.
type apiClient struct {
	hc    *http.Client
	token string
}

func (a apiClient) get(node int, path string) ([]byte, error) {
	req, err := http.NewRequest("GET", fmt.Sprintf("https://%s:%d%s", clustertest.NodeAddr(node), clustertest.APIPort, path), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", path, resp.Status, tail(string(b), 3))
	}
	return b, nil
}

type nodeStatus struct {
	Leader        string `json:"leader"`
	ConfigVersion uint64 `json:"config_version"`
	TableDigest   string `json:"table_digest"`
	Degraded      bool   `json:"degraded"`
}

func (a apiClient) status(node int) (nodeStatus, error) {
	var st nodeStatus
	b, err := a.get(node, "/v1/status")
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// metricNames lists the metric names of a /metrics exposition.
func metricNames(b []byte) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		if i := strings.IndexAny(l, "{ "); i > 0 {
			out[l[:i]] = true
		}
	}
	return out
}

// TestPackageUnderSystemd installs the .deb in three Debian containers
// booted with systemd and runs a group with it, as an operator would.
func TestPackageUnderSystemd(t *testing.T) {
	netnstest.RequireRoot(t)
	nspawn := netnstest.RequireBinary(t, "systemd-nspawn")
	netnstest.RequireBinary(t, "nsenter")
	deb := buildDeb(t)
	tarball := rootfsTarball(t)
	bins, err := clustertest.Build()
	if err != nil {
		t.Fatal(err)
	}

	// The packaged binary, for the operator's steps on the admin machine.
	x := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	quadrature := filepath.Join(x, "usr/bin/quadrature")
	creds := filepath.Join(t.TempDir(), "creds")
	initArgs := []string{"cluster", "init", "-dir", creds}
	for i := 1; i <= 3; i++ {
		initArgs = append(initArgs, fmt.Sprintf("%s=%s", clustertest.NodeName(i), clustertest.NodeAddr(i)))
	}
	if out, err := exec.Command(quadrature, initArgs...).CombinedOutput(); err != nil {
		t.Fatalf("quadrature cluster init: %v\n%s", err, out)
	}

	lab := netnstest.NewLab(t)
	var nss []*netnstest.NS
	for i := 1; i <= 3; i++ {
		nss = append(nss, lab.AddHost(clustertest.NodeName(i), netip.PrefixFrom(clustertest.NodeAddr(i), 24).String()))
	}
	client := lab.AddHost("client", netip.PrefixFrom(clustertest.ClientAddr, 24).String())

	start := time.Now()
	cs := make([]*container, 3)
	var wg sync.WaitGroup
	var bootErr sync.Map
	for i := range cs {
		cs[i] = bootContainer(t, nspawn, tarball, fmt.Sprintf("%s-n%d", lab.Prefix, i+1), clustertest.NodeName(i+1), nss[i], func(dir string) {
			data, err := os.ReadFile(deb)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, "root/quadrature.deb"), data, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
		wg.Add(1)
		go func(c *container) {
			defer wg.Done()
			// PID 1 exists before its bus does: until systemd has made
			// /run/systemd/private, systemctl cannot connect (seen in CI
			// on a loaded machine), so ask again for a while.
			var out string
			var err error
			deadline := time.Now().Add(time.Minute)
			for {
				out, err = c.run("systemctl", "is-system-running", "--wait")
				if err == nil || !strings.Contains(out, "Failed to connect to bus") || time.Now().After(deadline) {
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
			if s := strings.TrimSpace(out); err != nil && s != "degraded" {
				bootErr.Store(c.short, fmt.Sprintf("is-system-running: %s (%v)", s, err))
			}
		}(cs[i])
	}
	wg.Wait()
	bootErr.Range(func(k, v any) bool { t.Fatalf("%s: %s", k, v); return false })
	t.Logf("3 containers booted with systemd in %v", time.Since(start).Round(time.Millisecond))

	// dpkg -i: the user, the unit enabled, and a start that does nothing
	// until the configuration exists.
	for _, c := range cs {
		out := c.mustRun("dpkg", "-i", "/root/quadrature.deb")
		if strings.Contains(out, "warning") {
			t.Errorf("%s: dpkg -i warns:\n%s", c.short, out)
		}
		if s := strings.TrimSpace(c.mustRun("systemctl", "is-enabled", "quadrature")); s != "enabled" {
			t.Errorf("%s: is-enabled %q", c.short, s)
		}
		c.mustRun("systemctl", "start", "quadrature")
		p := c.show("quadrature", "ActiveState", "ConditionResult")
		if p["ActiveState"] != "inactive" || p["ConditionResult"] != "no" {
			t.Errorf("%s: start without a configuration: %v (want inactive, condition failed)", c.short, p)
		}
	}
	uid := strings.TrimSpace(cs[0].mustRun("id", "-u", "quadrature"))

	// The operator's steps: credentials, the file, the node's flags.
	for i, c := range cs {
		name := clustertest.NodeName(i + 1)
		dst := filepath.Join(c.dir, "etc/quadrature/credentials")
		if out, err := exec.Command("cp", "-r", filepath.Join(creds, name), dst).CombinedOutput(); err != nil {
			t.Fatalf("copy credentials: %v\n%s", err, out)
		}
		c.mustRun("sh", "-c", "chgrp -R quadrature /etc/quadrature/credentials && chmod 0750 /etc/quadrature/credentials && chmod 0640 /etc/quadrature/credentials/*")
		writeFile(t, filepath.Join(c.dir, "etc/quadrature/keepalived.conf"), groupConfig(3, 1))
		writeFile(t, filepath.Join(c.dir, "etc/default/quadrature"), fmt.Sprintf("QUADRATURE_OPTS=\"-node %s -timing tuned\"\n", name))
		// The application server every director also runs (on the host,
		// in the node's namespace).
		if err := c.ns.Start(c.ns.Command(bins.App, "-listen", netip.AddrPortFrom(clustertest.NodeAddr(i+1), clustertest.AppPort).String(), "-name", name)); err != nil {
			t.Fatal(err)
		}
	}

	// systemctl start returns once the agent says READY=1 (Type=notify).
	start = time.Now()
	startErr := make([]error, 3)
	startTook := make([]time.Duration, 3)
	for i, c := range cs {
		wg.Add(1)
		go func(i int, c *container) {
			defer wg.Done()
			t0 := time.Now()
			out, err := c.run("systemctl", "start", "quadrature")
			startTook[i] = time.Since(t0)
			if err != nil {
				j, _ := c.run("journalctl", "-u", "quadrature", "--no-pager", "-n", "30")
				startErr[i] = fmt.Errorf("systemctl start: %v\n%s\njournal:\n%s", err, out, j)
			}
		}(i, c)
	}
	wg.Wait()
	for i, err := range startErr {
		if err != nil {
			t.Fatalf("%s: %v", cs[i].short, err)
		}
	}
	t.Logf("systemctl start (until READY=1) took %v, %v, %v", startTook[0].Round(time.Millisecond),
		startTook[1].Round(time.Millisecond), startTook[2].Round(time.Millisecond))

	for _, c := range cs {
		if out, err := c.run("systemctl", "status", "quadrature", "--no-pager", "-n", "5"); err != nil {
			t.Errorf("%s: systemctl status: %v\n%s", c.short, err, out)
		} else if c == cs[0] {
			t.Logf("systemctl status quadrature on n1:\n%s", out)
		}
		p := c.show("quadrature", "ActiveState", "SubState", "MainPID", "StatusText", "WatchdogUSec", "NRestarts", "Type")
		if p["ActiveState"] != "active" || p["SubState"] != "running" || p["Type"] != "notify" || p["WatchdogUSec"] != "30s" ||
			!strings.HasPrefix(p["StatusText"], "serving") {
			t.Errorf("%s: %v", c.short, p)
		}
		// Not root, three capabilities, no new privileges.
		st := c.mustRun("cat", "/proc/"+p["MainPID"]+"/status")
		for _, want := range []string{"Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid, "CapEff:\t0000000000003400",
			"CapBnd:\t0000000000003400", "CapAmb:\t0000000000003400", "NoNewPrivs:\t1"} {
			if !strings.Contains(st, want+"\n") {
				t.Errorf("%s: the agent's /proc status lacks %q:\n%s", c.short, want, st)
			}
		}
	}

	// The group through its API (TLS, the group's CA, the admin token).
	pem, err := os.ReadFile(filepath.Join(creds, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tok, err := os.ReadFile(filepath.Join(creds, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	api := apiClient{token: strings.TrimSpace(string(tok)), hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext:     clustertest.NSDialer(client, 2*time.Second),
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, DisableKeepAlives: true}}}
	versions := func() ([]uint64, error) {
		var vs []uint64
		var digests []string
		for i := 1; i <= 3; i++ {
			st, err := api.status(i)
			if err != nil {
				return nil, err
			}
			if st.Leader == "" || st.ConfigVersion == 0 || st.TableDigest == "" {
				return nil, fmt.Errorf("n%d: %+v", i, st)
			}
			vs = append(vs, st.ConfigVersion)
			digests = append(digests, st.TableDigest)
		}
		if vs[0] != vs[1] || vs[1] != vs[2] || digests[0] != digests[1] || digests[1] != digests[2] {
			return nil, fmt.Errorf("versions %v digests %v", vs, digests)
		}
		return vs, nil
	}
	var v0 []uint64
	if err := poll(30*time.Second, func() (err error) { v0, err = versions(); return err }); err != nil {
		t.Fatalf("group not converged: %v", err)
	}
	t.Logf("group converged on config version %d, %v after the first start", v0[0], time.Since(start).Round(time.Millisecond))

	// Traffic through the VIP (n1 holds it once its hold is over), and a
	// refusal on n1's Raft port: the series that exist only then.
	vipOn := func(ns *netnstest.NS) bool {
		out, _ := ns.Run("ip", "-o", "addr", "show", "dev", "eth0")
		return strings.Contains(string(out), " "+clustertest.VIP.String()+"/")
	}
	if err := poll(30*time.Second, func() error {
		if !vipOn(nss[0]) || vipOn(nss[1]) || vipOn(nss[2]) {
			return fmt.Errorf("VIP on n1 %v n2 %v n3 %v", vipOn(nss[0]), vipOn(nss[1]), vipOn(nss[2]))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	vc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: clustertest.NSDialer(client, 2*time.Second), DisableKeepAlives: true}}
	served := 0
	if err := poll(20*time.Second, func() error {
		resp, err := vc.Get(fmt.Sprintf("http://%s:%d/", clustertest.VIP, clustertest.VIPPort))
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(b), "served by n") {
			return fmt.Errorf("answer %q", b)
		}
		if served++; served < 5 {
			return fmt.Errorf("%d served", served)
		}
		return nil
	}); err != nil {
		t.Fatalf("through the VIP: %v", err)
	}
	// The packaged CLI on the node, as an operator runs it.
	cli := []string{"-api", fmt.Sprintf("https://%s:%d", clustertest.NodeAddr(1), clustertest.APIPort),
		"-ca-file", "/etc/quadrature/credentials/ca.crt", "-token-file", "/etc/quadrature/credentials/api-token"}
	if out := cs[0].mustRun(append([]string{"quadrature", "list"}, cli...)...); !strings.HasPrefix(out, "Load-balancing table of node n1 (nftables backend, not IPVS)\n") ||
		!strings.Contains(out, "up 3/3") {
		t.Errorf("quadrature list on n1:\n%s", out)
	} else {
		t.Logf("quadrature list on n1:\n%s", out)
	}
	if out := cs[0].mustRun(append([]string{"quadrature", "status"}, cli...)...); !strings.Contains(out, "n1") {
		t.Errorf("quadrature status on n1:\n%s", out)
	}

	// Observations carry no made-up time (they used to say 0001-01-01).
	if b, err := api.get(1, "/v1/services"); err != nil {
		t.Errorf("/v1/services: %v", err)
	} else if strings.Contains(string(b), "0001-01-01") || !strings.Contains(string(b), `"observations"`) {
		t.Errorf("/v1/services: %s", tail(string(b), 20))
	}
	dial := clustertest.NSDialer(client, 2*time.Second)
	if conn, err := dial(context.Background(), "tcp", netip.AddrPortFrom(clustertest.NodeAddr(1), 9901).String()); err == nil {
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		io.Copy(io.Discard, conn)
		conn.Close()
	}

	// /metrics: every metric the dashboard and the alerts query.
	queried, err := monitoring.QueriedMetrics()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	if err := poll(20*time.Second, func() error {
		have := map[string]bool{}
		for i := 1; i <= 3; i++ {
			b, err := api.get(i, "/metrics")
			if err != nil {
				return err
			}
			for n := range metricNames(b) {
				have[n] = true
			}
		}
		missing = missing[:0]
		for n := range queried {
			if !have[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("missing %v", missing)
		}
		return nil
	}); err != nil {
		sort.Strings(missing)
		for _, n := range missing {
			t.Errorf("/metrics of no node has %s (queried by %s)", n, strings.Join(queried[n], ", "))
		}
	}
	t.Logf("/metrics: all %d metrics queried by the dashboard and the alerts are served", len(queried))

	// systemctl reload: a changed file is committed on every node...
	writeFile(t, filepath.Join(cs[0].dir, "etc/quadrature/keepalived.conf"), groupConfig(3, 3))
	cs[0].mustRun("systemctl", "reload", "quadrature")
	if p := cs[0].show("quadrature", "StatusText", "ActiveState"); p["StatusText"] != "serving; last reload committed" || p["ActiveState"] != "active" {
		t.Errorf("after reload: %v", p)
	}
	var v1 []uint64
	if err := poll(20*time.Second, func() (err error) {
		if v1, err = versions(); err == nil && v1[0] <= v0[0] {
			err = fmt.Errorf("version still %d", v1[0])
		}
		return err
	}); err != nil {
		t.Fatalf("reload not committed everywhere: %v", err)
	}
	// ...and a broken one changes nothing, says so, and keeps serving.
	writeFile(t, filepath.Join(cs[0].dir, "etc/quadrature/keepalived.conf"), "vrrp_instance {\n")
	cs[0].mustRun("systemctl", "reload", "quadrature")
	if p := cs[0].show("quadrature", "StatusText", "ActiveState", "NRestarts"); !strings.Contains(p["StatusText"], "last reload refused") ||
		p["ActiveState"] != "active" || p["NRestarts"] != "0" {
		t.Errorf("after a broken reload: %v", p)
	}
	if v2, err := versions(); err != nil || v2[0] != v1[0] {
		t.Errorf("a refused reload changed the group: %v %v (was %v)", v2, err, v1)
	}
	if j := cs[0].mustRun("journalctl", "-u", "quadrature", "--no-pager", "-p", "err", "-o", "cat"); !strings.Contains(j, "reload refused") {
		t.Errorf("journalctl -p err does not show the refused reload:\n%s", tail(j, 10))
	}
	t.Logf("reload: version %d -> %d; a broken file refused (status %q)", v0[0], v1[0], cs[0].show("quadrature", "StatusText")["StatusText"])
	writeFile(t, filepath.Join(cs[0].dir, "etc/quadrature/keepalived.conf"), groupConfig(3, 3))

	// journald: the unit's own identifier, no timestamp of ours, the
	// level as the priority, the node on every line (the reloads' too).
	checkJournal(t, cs[0])

	// The watchdog: an agent that stops answering is restarted.
	c3 := cs[2]
	dropin := filepath.Join(c3.dir, "etc/systemd/system/quadrature.service.d")
	if err := os.MkdirAll(dropin, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dropin, "watchdog.conf"), "[Service]\nWatchdogSec=4s\nTimeoutAbortSec=5s\n")
	c3.mustRun("systemctl", "daemon-reload")
	c3.mustRun("systemctl", "restart", "quadrature")
	before := c3.show("quadrature", "MainPID", "NRestarts", "WatchdogUSec")
	if before["WatchdogUSec"] != "4s" {
		t.Fatalf("drop-in not applied: %v", before)
	}
	time.Sleep(5 * time.Second) // alive past one interval: the keepalives arrive
	if p := c3.show("quadrature", "MainPID", "ActiveState"); p["MainPID"] != before["MainPID"] || p["ActiveState"] != "active" {
		t.Fatalf("a running agent was restarted by the watchdog: %v then %v", before, p)
	}
	stopped := time.Now()
	c3.mustRun("kill", "-STOP", before["MainPID"])
	var after map[string]string
	if err := poll(40*time.Second, func() error {
		after = c3.show("quadrature", "MainPID", "NRestarts", "ActiveState", "SubState")
		if after["NRestarts"] == before["NRestarts"] || after["ActiveState"] != "active" || after["SubState"] != "running" {
			return fmt.Errorf("%v", after)
		}
		return nil
	}); err != nil {
		t.Fatalf("the watchdog did not restart the stopped agent: %v", err)
	}
	j := c3.mustRun("journalctl", "-u", "quadrature", "--no-pager", "-o", "cat")
	if !strings.Contains(j, "Watchdog timeout") {
		t.Errorf("no watchdog timeout in the journal:\n%s", tail(j, 15))
	}
	t.Logf("watchdog: agent stopped (SIGSTOP) -> restarted and ready again in %v (pid %s -> %s)",
		time.Since(stopped).Round(time.Millisecond), before["MainPID"], after["MainPID"])
	if err := poll(30*time.Second, func() error { _, err := versions(); return err }); err != nil {
		t.Errorf("group after the watchdog restart: %v", err)
	}

	// systemctl stop: a clean exit, the VIP given up.
	for _, c := range cs {
		c.mustRun("systemctl", "stop", "quadrature")
		if p := c.show("quadrature", "ActiveState", "Result"); p["ActiveState"] != "inactive" || p["Result"] != "success" {
			t.Errorf("%s: after stop: %v", c.short, p)
		}
	}
	if vipOn(nss[0]) {
		t.Errorf("n1 kept the VIP after systemctl stop")
	}
	// dpkg --purge removes the unit and the state.
	c3.mustRun("dpkg", "--purge", "quadrature")
	for _, p := range []string{"lib/systemd/system/quadrature.service", "var/lib/quadrature", "usr/bin/quadrature"} {
		if _, err := os.Stat(filepath.Join(c3.dir, p)); !os.IsNotExist(err) {
			t.Errorf("after purge /%s: %v", p, err)
		}
	}
}

// checkJournal reads the unit's journal as JSON: every agent line has the
// identifier quadrature, no time= of its own and the priority of its level.
func checkJournal(t *testing.T, c *container) {
	t.Helper()
	out := c.mustRun("journalctl", "-u", "quadrature", "-o", "json", "--no-pager", "_COMM=quadrature")
	prio := map[string]string{"DEBUG": "7", "INFO": "6", "WARN": "4", "ERROR": "3"}
	seen := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("journal line %q: %v", l, err)
		}
		msg, _ := e["MESSAGE"].(string)
		if strings.HasPrefix(msg, "time=") || strings.Contains(msg, " time=") {
			t.Errorf("a line carries its own timestamp: %q", msg)
		}
		if e["SYSLOG_IDENTIFIER"] != "quadrature" {
			t.Errorf("identifier %v: %q", e["SYSLOG_IDENTIFIER"], msg)
		}
		m := regexp.MustCompile(`^level=(\w+) `).FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		if !strings.Contains(msg, " node=n1") {
			t.Errorf("a line without node=: %q", msg)
		}
		if strings.Contains(msg, "SIGHUP") {
			seen["SIGHUP"]++
		}
		if e["PRIORITY"] != prio[m[1]] {
			t.Errorf("level %s logged with priority %v: %q", m[1], e["PRIORITY"], msg)
		}
		seen[m[1]]++
	}
	if seen["SIGHUP"] < 2 {
		t.Errorf("the two reloads are not in the journal (%d SIGHUP lines)", seen["SIGHUP"])
	}
	if seen["INFO"] == 0 {
		t.Errorf("no agent lines in the journal:\n%s", tail(out, 5))
	}
	t.Logf("journal of n1: agent lines by level %v, each with its syslog priority", seen)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
