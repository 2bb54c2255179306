//go:build linux

// Command compare measures quadrature's health checkers against
// keepalived 2.2.7's on the same keepalived.conf, in one run, and prints a
// table of figures and ratios. See bench/README.md.
package main

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serve(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

type options struct {
	sizes      []int
	httpSizes  []int
	duration   time.Duration
	settle     time.Duration
	downWait   time.Duration
	cpu        int
	serverCPU  int
	backend    string
	quadrature string
	keepalived string
	sides      string
	pprofDir   string
	keep       bool
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" || f == "0" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > maxServers {
			return nil, fmt.Errorf("size %q: want 1..%d", f, maxServers)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(args []string) int {
	fs := flag.NewFlagSet("bench-compare", flag.ContinueOnError)
	var o options
	tcp := fs.String("n", "1000,5000,10000", "TCP_CHECK sizes (real servers), comma-separated")
	httpN := fs.String("http", "1000", "HTTP_GET sizes, comma-separated (empty: none)")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "measuring window per side and size")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait after the check rate reached the expected one, before measuring")
	fs.DurationVar(&o.downWait, "down-timeout", 30*time.Second, "longest wait for all real servers to be marked down")
	fs.IntVar(&o.cpu, "cpu", 1, "the core each checker side is pinned to (taskset)")
	fs.IntVar(&o.serverCPU, "server-cpu", 0, "the core the real servers are pinned to")
	fs.StringVar(&o.backend, "backend", "none", "quadrature's data plane: none (in memory, like keepalived's shimmed IPVS) or nftables")
	fs.StringVar(&o.quadrature, "quadrature", "bin/quadrature", "the quadrature binary")
	fs.StringVar(&o.keepalived, "keepalived", "/usr/sbin/keepalived", "the keepalived binary")
	fs.StringVar(&o.sides, "sides", "quadrature,keepalived", "which sides to run")
	fs.StringVar(&o.pprofDir, "pprof", "", "directory for quadrature's CPU and heap profiles (fetched from /debug/pprof during the window; adds the profiler's cost)")
	fs.BoolVar(&o.keep, "keep", false, "keep the run directory (configs, logs)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if o.sizes, err = parseSizes(*tcp); err == nil {
		o.httpSizes, err = parseSizes(*httpN)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-compare:", err)
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench-compare: run as root (network namespaces, keepalived)")
		return 1
	}
	b, err := newBench(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-compare:", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "\nbench-compare: %v: cleaning up\n", s)
		b.cleanup()
		os.Exit(130)
	}()
	defer b.cleanup()
	var rows []row
	cases := []struct {
		kind string
		ns   []int
	}{{"tcp", o.sizes}, {"http", o.httpSizes}}
	for _, c := range cases {
		for _, n := range c.ns {
			r, err := b.runCase(c.kind, n)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench-compare: N=%d %s: %v\n", n, c.kind, err)
				return 1
			}
			rows = append(rows, r)
			printTable(os.Stdout, o, rows, false)
		}
	}
	printTable(os.Stdout, o, rows, true)
	return 0
}

// bench owns one run's namespaces, directory and processes.
type bench struct {
	o       options
	prefix  string
	dir     string
	self    string
	shim    string
	mu      sync.Mutex
	procs   map[int]*proc // started by us, by PID
	cleaned bool
}

func newBench(o options) (*bench, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if o.quadrature, err = filepath.Abs(o.quadrature); err != nil {
		return nil, err
	}
	for _, s := range strings.Split(o.sides, ",") {
		switch s {
		case "quadrature":
			if _, err := os.Stat(o.quadrature); err != nil {
				return nil, fmt.Errorf("quadrature binary: %w (make build)", err)
			}
		case "keepalived":
			if _, err := os.Stat(o.keepalived); err != nil {
				return nil, fmt.Errorf("keepalived binary: %w", err)
			}
		default:
			return nil, fmt.Errorf("-sides: unknown side %q", s)
		}
	}
	raiseNoFile()
	b := &bench{o: o, prefix: fmt.Sprintf("qbc%d", os.Getpid()), self: self, procs: map[int]*proc{}}
	b.dir, err = os.MkdirTemp("", "bench-compare-")
	if err != nil {
		return nil, err
	}
	if strings.Contains(o.sides, "keepalived") {
		if b.shim, err = buildShim(b.dir); err != nil {
			b.cleanup()
			return nil, err
		}
	}
	return b, nil
}

// raiseNoFile lifts RLIMIT_NOFILE to the kernel's maximum: the real
// servers listen on up to 50,800 sockets and the children inherit it.
func raiseNoFile() {
	max := uint64(1 << 20)
	if data, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64); err == nil {
			max = v
		}
	}
	lim := syscall.Rlimit{Cur: max, Max: max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		return
	}
	// Not allowed above the hard limit here: raise the soft one to it.
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Max < 2*maxServers {
			fmt.Fprintf(os.Stderr, "bench-compare: RLIMIT_NOFILE %d (%v)\n", lim.Max, err)
		}
	}
}

// shimSource is the LD_PRELOAD library that lets keepalived's checker run
// without the ip_vs module (see shim/ipvsshim.c).
//
//go:embed shim/ipvsshim.c
var shimSource string

func buildShim(dir string) (string, error) {
	src := filepath.Join(dir, "ipvsshim.c")
	if err := os.WriteFile(src, []byte(shimSource), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "ipvsshim.so")
	cmd := exec.Command("cc", "-O2", "-shared", "-fPIC", "-o", out, src, "-ldl")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the IPVS shim (cc): %v: %s", err, msg)
	}
	return out, nil
}

func (b *bench) ns(name string) string { return b.prefix + "-" + name }

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func ipBatch(ns string, lines []string) error {
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch: %v: %s", ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

const (
	dirAddr    = "192.0.2.1"
	srvAddr    = "192.0.2.2"
	firstPort  = 10000
	portsPerIP = 100
	maxServers = 2 * 254 * portsPerIP
)

// rsAddrs are the real servers' addresses: 198.51.100.1-254, then
// 203.0.113.1-254, each with portsPerIP ports.
func rsAddrs(n int) []string {
	k := (n + portsPerIP - 1) / portsPerIP
	out := make([]string, 0, k)
	for i := 0; i < k; i++ {
		if i < 254 {
			out = append(out, fmt.Sprintf("198.51.100.%d", i+1))
		} else {
			out = append(out, fmt.Sprintf("203.0.113.%d", i-254+1))
		}
	}
	return out
}

// setupNet builds two namespaces joined by a veth pair: the director
// (where keepalived or quadrature runs) and the real servers (one
// namespace, every real-server address on its link, an nftables counter
// of the SYNs it receives: the checks both sides make, counted alike).
func (b *bench) setupNet(n int) error {
	b.teardownNet()
	d, s := b.ns("dir"), b.ns("srv")
	for _, c := range [][]string{
		{"netns", "add", d}, {"netns", "add", s},
		{"-n", d, "link", "set", "lo", "up"}, {"-n", s, "link", "set", "lo", "up"},
		{"-n", d, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", s},
		{"-n", d, "addr", "add", dirAddr + "/24", "dev", "eth0"},
		{"-n", s, "addr", "add", srvAddr + "/24", "dev", "eth0"},
		{"-n", d, "link", "set", "eth0", "up"}, {"-n", s, "link", "set", "eth0", "up"},
		{"-n", d, "route", "add", "198.51.100.0/24", "via", srvAddr},
		{"-n", d, "route", "add", "203.0.113.0/24", "via", srvAddr},
	} {
		if err := ipCmd(c...); err != nil {
			return err
		}
	}
	var lines []string
	for _, a := range rsAddrs(n) {
		lines = append(lines, "addr add "+a+"/32 dev eth0")
	}
	if err := ipBatch(s, lines); err != nil {
		return err
	}
	for _, c := range [][]string{
		{d, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000"},
		{s, "sysctl", "-qw", "net.core.somaxconn=65535"},
		{s, "nft", "add table inet qbc; add counter inet qbc syns; " +
			"add chain inet qbc in { type filter hook input priority 0; policy accept; }; " +
			"add rule inet qbc in tcp flags & (syn|ack) == syn counter name syns"},
	} {
		args := append([]string{"netns", "exec"}, c...)
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return nil
}

// syns reads the servers' SYN counter.
func (b *bench) syns() (uint64, error) {
	out, err := exec.Command("ip", "netns", "exec", b.ns("srv"), "nft", "-j", "list", "counter", "inet", "qbc", "syns").Output()
	if err != nil {
		return 0, fmt.Errorf("nft list counter: %w", err)
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Packets uint64 `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return 0, err
	}
	for _, e := range doc.Nftables {
		if e.Counter != nil {
			return e.Counter.Packets, nil
		}
	}
	return 0, errors.New("nft: no counter in the answer")
}

func (b *bench) teardownNet() {
	for _, name := range []string{"dir", "srv"} {
		ns := b.ns(name)
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue
		}
		// Whatever still runs in our own namespaces was started by us.
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_ = ipCmd("netns", "del", ns)
	}
}

func (b *bench) cleanup() {
	b.mu.Lock()
	if b.cleaned {
		b.mu.Unlock()
		return
	}
	b.cleaned = true
	procs := b.procs
	b.procs = map[int]*proc{}
	b.mu.Unlock()
	for pid := range procs {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	time.Sleep(200 * time.Millisecond)
	for pid := range procs {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	b.teardownNet()
	if b.o.keep {
		fmt.Fprintf(os.Stderr, "bench-compare: kept %s\n", b.dir)
	} else if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// proc is a process we started; done is closed once it was waited for.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// start runs argv inside namespace ns pinned to core cpu; stdout and
// stderr go to one pipe, read line by line by onLine.
func (b *bench) start(ns string, cpu int, env []string, stdin io.Reader, logPath string, onLine func(string), argv ...string) (*proc, error) {
	full := append([]string{"netns", "exec", ns, "taskset", "-c", strconv.Itoa(cpu)}, argv...)
	cmd := exec.Command("ip", full...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	b.mu.Lock()
	b.procs[cmd.Process.Pid] = p
	b.mu.Unlock()
	go func() { _ = cmd.Wait(); close(p.done) }()
	lf, _ := os.Create(logPath)
	go func() {
		defer pr.Close()
		if lf != nil {
			defer lf.Close()
		}
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if lf != nil {
				fmt.Fprintln(lf, line)
			}
			if onLine != nil {
				onLine(line)
			}
		}
	}()
	return p, nil
}

// stop ends a process we started: SIGTERM, then SIGKILL after 15 s; then
// any of its descendants that outlived it (by the PIDs seen in its tree).
func (b *bench) stop(p *proc, tree []int) {
	pid := p.pid()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	for _, c := range tree {
		if c != pid {
			_ = syscall.Kill(c, syscall.SIGKILL)
		}
	}
	b.mu.Lock()
	delete(b.procs, pid)
	b.mu.Unlock()
}

// procTree returns pid and its descendants, their CPU time (utime+stime,
// seconds) and their resident set (bytes), from /proc.
func procTree(pid int) (pids []int, cpu float64, rss int64) {
	ents, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		pids = append(pids, p)
		queue = append(queue, children[p]...)
	}
	for _, p := range pids {
		c, r := procStats(p)
		cpu += c
		rss += r
	}
	return pids, cpu, rss
}

const clockTicks = 100 // USER_HZ on Linux

func procStats(pid int) (cpu float64, rss int64) {
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(data)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 12 {
				ut, _ := strconv.ParseFloat(f[11], 64) // field 14 utime
				st, _ := strconv.ParseFloat(f[12], 64) // field 15 stime
				cpu = (ut + st) / clockTicks
			}
		}
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				f := strings.Fields(l)
				if len(f) >= 2 {
					kb, _ := strconv.ParseInt(f[1], 10, 64)
					rss = kb << 10
				}
			}
		}
	}
	return cpu, rss
}

// downLog collects, from a side's log, when each real server was marked
// down.
type downLog struct {
	mu    sync.Mutex
	down  map[string]time.Time
	armed bool
	ready chan struct{}
	once  sync.Once
	tail  []string
}

func newDownLog() *downLog { return &downLog{down: map[string]time.Time{}, ready: make(chan struct{})} }

func (l *downLog) line(s string, key func(string) (string, bool), ready func(string) bool) {
	now := time.Now()
	if ready != nil && ready(s) {
		l.once.Do(func() { close(l.ready) })
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tail = append(l.tail, s)
	if len(l.tail) > 40 {
		l.tail = l.tail[len(l.tail)-40:]
	}
	if !l.armed {
		return
	}
	if k, ok := key(s); ok {
		if _, seen := l.down[k]; !seen {
			l.down[k] = now
		}
	}
}

func (l *downLog) arm() {
	l.mu.Lock()
	l.armed = true
	l.down = map[string]time.Time{}
	l.mu.Unlock()
}

func (l *downLog) count() (int, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	for _, t := range l.down {
		if t.After(last) {
			last = t
		}
	}
	return len(l.down), last
}

func (l *downLog) lastLines() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.tail, "\n")
}

// keepalived logs "Removing service [ADDR]:tcp:PORT to VS [...]" when a
// real server goes down (after its retries, like quadrature's verdict).
var kaRemoving = regexp.MustCompile(`Removing service \[([^\]]+)\]:tcp:(\d+)`)

func kaDownKey(s string) (string, bool) {
	m := kaRemoving.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	return m[1] + ":" + m[2], true
}

func kaReady(s string) bool { return strings.Contains(s, "Activating healthchecker") }

// quadrature logs (JSON) msg "real server down" with rs "VS ADDR:PORT".
func qDownKey(s string) (string, bool) {
	if !strings.Contains(s, `"real server down"`) {
		return "", false
	}
	var e struct {
		Msg string `json:"msg"`
		RS  string `json:"rs"`
	}
	if json.Unmarshal([]byte(s), &e) != nil || e.Msg != "real server down" {
		return "", false
	}
	if i := strings.LastIndexByte(e.RS, ' '); i >= 0 {
		return e.RS[i+1:], true
	}
	return e.RS, true
}

func qReady(s string) bool { return strings.Contains(s, `"api: listening"`) }
