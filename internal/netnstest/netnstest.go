package netnstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// InCI reports whether the test runs in CI, where skips are failures.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test with reason for ordinary runs and fails it in CI.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("cannot run in CI: %s", msg)
	}
	t.Skip(msg)
}

// RequireRoot skips (or fails in CI) unless the process is root and can
// create network namespaces.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		SkipOrFail(t, "needs iproute2 (ip): %v", err)
	}
}

// RequireBinary returns the path of a program the test needs, skipping (or
// failing in CI) when it is not installed.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, serr := os.Stat(dir + "/" + name); serr == nil {
				return dir + "/" + name
			}
		}
		SkipOrFail(t, "needs %s (run 'make deps'): %v", name, err)
	}
	return p
}

// RandomPrefix returns a short random name prefix such as "qa1b2c".
func RandomPrefix() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "q" + hex.EncodeToString(b[:])
}

// Lab is one disposable network: a bridge in its own namespace and the
// hosts attached to it.
type Lab struct {
	t      testing.TB
	Prefix string
	// LAN is the namespace that holds the bridge "br0" and the bridge-side
	// ends of every host's veth pair.
	LAN   *NS
	mu    sync.Mutex
	hosts []*NS
	n     int
}

// NS is one network namespace of a lab.
type NS struct {
	lab *Lab
	// Name is the namespace name as "ip netns" knows it.
	Name string
	// Link is the host's interface on the LAN ("eth0"); empty for the LAN
	// namespace itself.
	Link string
	// Port is the bridge-side end of the host's veth pair, in the LAN
	// namespace.
	Port  string
	mu    sync.Mutex
	procs []*exec.Cmd
}

// NewLab creates the LAN namespace with a bridge and registers cleanup.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	l := &Lab{t: t, Prefix: RandomPrefix()}
	t.Cleanup(l.destroy)
	l.LAN = l.newNS("lan")
	l.LAN.MustRun("ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	l.LAN.MustRun("ip", "link", "set", "br0", "up")
	return l
}

func (l *Lab) newNS(short string) *NS {
	name := l.Prefix + "-" + short
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		l.t.Fatalf("netnstest: ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{lab: l, Name: name}
	l.mu.Lock()
	l.hosts = append(l.hosts, ns)
	l.mu.Unlock()
	ns.MustRun("ip", "link", "set", "lo", "up")
	return ns
}

// AddHost creates a namespace attached to the bridge by a veth pair whose
// host end is "eth0", assigns the given addresses (CIDR notation) and
// brings the link up. IPv6 duplicate address detection is disabled so
// addresses are usable at once.
func (l *Lab) AddHost(short string, cidrs ...string) *NS {
	l.t.Helper()
	ns := l.newNS(short)
	l.mu.Lock()
	l.n++
	idx := l.n
	l.mu.Unlock()
	ns.Link = "eth0"
	ns.Port = fmt.Sprintf("p%d", idx)
	tmp := fmt.Sprintf("%sv%d", l.Prefix, idx)
	ns.MustRun("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	ns.MustRun("ip", "link", "add", "eth0", "type", "veth", "peer", "name", tmp)
	ns.MustRun("ip", "link", "set", tmp, "netns", l.LAN.Name)
	l.LAN.MustRun("ip", "link", "set", tmp, "name", ns.Port)
	l.LAN.MustRun("ip", "link", "set", ns.Port, "master", "br0", "up")
	for _, c := range cidrs {
		ns.MustRun("ip", "addr", "add", c, "dev", "eth0", "nodad")
	}
	ns.MustRun("ip", "link", "set", "eth0", "up")
	return ns
}

// Hosts returns the host namespaces in creation order (the LAN excluded).
func (l *Lab) Hosts() []*NS {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*NS
	for _, h := range l.hosts {
		if h != l.LAN {
			out = append(out, h)
		}
	}
	return out
}

// SetPort takes a host's bridge port down or up: a cable pulled at the
// switch, the host's own link state unchanged.
func (l *Lab) SetPort(h *NS, up bool) {
	l.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	l.LAN.MustRun("ip", "link", "set", h.Port, state)
}

// Block drops all frames between hosts a and b in both directions at the
// bridge (a symmetric partition between the two); Unblock removes it.
func (l *Lab) Block(a, b *NS) {
	l.t.Helper()
	l.LAN.nft("add table bridge netnstest")
	l.LAN.nft("add chain bridge netnstest blocks { type filter hook forward priority 0 ; }")
	for _, pair := range [][2]string{{a.Port, b.Port}, {b.Port, a.Port}} {
		l.LAN.nft(fmt.Sprintf("add rule bridge netnstest blocks iifname %s oifname %s drop comment \"%s-%s\"", pair[0], pair[1], pair[0], pair[1]))
	}
}

// Unblock removes the drop rules Block installed between a and b.
func (l *Lab) Unblock(a, b *NS) {
	l.t.Helper()
	out, err := l.LAN.Run("nft", "-a", "list", "chain", "bridge", "netnstest", "blocks")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, "drop") {
			continue
		}
		for _, pair := range [][2]string{{a.Port, b.Port}, {b.Port, a.Port}} {
			if strings.Contains(line, fmt.Sprintf("%q", pair[0]+"-"+pair[1])) {
				i := strings.LastIndex(line, "# handle ")
				if i >= 0 {
					h := strings.TrimSpace(line[i+len("# handle "):])
					l.LAN.nft("delete rule bridge netnstest blocks handle " + h)
				}
			}
		}
	}
}

func (l *Lab) destroy() {
	l.mu.Lock()
	hosts := append([]*NS(nil), l.hosts...)
	l.mu.Unlock()
	for _, h := range hosts {
		h.killAll()
	}
	for _, h := range hosts {
		if out, err := exec.Command("ip", "netns", "del", h.Name).CombinedOutput(); err != nil {
			l.t.Logf("netnstest: ip netns del %s: %v: %s", h.Name, err, out)
		}
	}
}

// Command returns an exec.Cmd that runs name with args inside the
// namespace. The caller starts it; use Start to have it killed at cleanup.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command in the namespace and returns its combined output.
func (ns *NS) Run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if err != nil {
		return buf.Bytes(), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), ns.Name, err, buf.String())
	}
	return buf.Bytes(), nil
}

// nft runs one nft command given as a single string; nft joins its
// arguments again, so quoted comments survive the split.
func (ns *NS) nft(cmd string) { ns.MustRun("nft", strings.Fields(cmd)...) }

// MustRun is Run that fails the test on error.
func (ns *NS) MustRun(name string, args ...string) []byte {
	ns.lab.t.Helper()
	out, err := ns.Run(name, args...)
	if err != nil {
		ns.lab.t.Fatalf("netnstest: %v", err)
	}
	return out
}

// Start starts a long-running command in the namespace; it is killed
// (SIGKILL to its process group) at cleanup if still running.
func (ns *NS) Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = newProcAttr()
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	ns.mu.Lock()
	ns.procs = append(ns.procs, cmd)
	ns.mu.Unlock()
	return nil
}

func (ns *NS) killAll() {
	ns.mu.Lock()
	procs := ns.procs
	ns.procs = nil
	ns.mu.Unlock()
	for _, p := range procs {
		if p.Process == nil || p.ProcessState != nil {
			continue
		}
		killGroup(p)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
}

// Do runs f on a locked OS thread switched into the namespace, then
// switches back. Sockets opened inside f stay in the namespace after f
// returns, which is how in-process tests put a listener or a raw socket
// into a host.
func (ns *NS) Do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("netnstest: current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns.Name)
	if err != nil {
		return fmt.Errorf("netnstest: open netns %s: %w", ns.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("netnstest: enter netns %s: %w", ns.Name, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// The thread is unusable: leave it locked so the runtime discards it.
		panic(fmt.Sprintf("netnstest: cannot return to original netns: %v", err))
	}
	return ferr
}

// Handle returns a netns handle for the namespace (for netlink.NewHandleAt
// and friends); the caller closes it.
func (ns *NS) Handle() (netns.NsHandle, error) { return netns.GetFromName(ns.Name) }

func (*NS) listNetns() (string, error) {
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	return string(out), err
}
