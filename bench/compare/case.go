//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sideResult is what one side measured for one case.
type sideResult struct {
	ran     bool
	window  float64 // seconds measured
	cpu     float64 // CPU seconds of the process tree in the window
	checks  uint64  // SYNs the real servers received in the window
	own     float64 // the side's own counter per second, over its own window (quadrature_check_results_total); -1 if none
	rss     int64   // resident set of the tree at the end of the window
	rssPeak int64
	startup time.Duration // start until the checks ran at the expected rate
	down    time.Duration // all servers stopped until all marked down
	downN   int           // real servers marked down (of n)
}

func (r sideResult) cpuPer1k() float64 {
	if r.checks == 0 {
		return 0
	}
	return r.cpu / (float64(r.checks) / 1000)
}

func (r sideResult) rate() float64 { return float64(r.checks) / r.window }

type row struct {
	n    int
	kind string
	q, k sideResult
}

// writeConfig writes the one keepalived.conf both sides run: n real
// servers, portsPerIP ports on each address, one virtual server per
// address, delay_loop 1, connect_timeout 1.
func writeConfig(path, kind string, n int) error {
	var sb strings.Builder
	sb.WriteString("! bench/compare: the same file for keepalived and quadrature\nglobal_defs {\n  router_id bench\n}\n")
	left := n
	for i, a := range rsAddrs(n) {
		fmt.Fprintf(&sb, "virtual_server 192.0.2.%d 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n", 10+i%240)
		if i >= 240 {
			// Past 240 addresses the virtual servers take other ports.
			sb.Reset()
			return fmt.Errorf("at most %d real servers", 240*portsPerIP)
		}
		for p := 0; p < portsPerIP && left > 0; p++ {
			left--
			fmt.Fprintf(&sb, "  real_server %s %d {\n    weight 1\n", a, firstPort+p)
			switch kind {
			case "tcp":
				sb.WriteString("    TCP_CHECK {\n      connect_timeout 1\n    }\n")
			case "http":
				sb.WriteString("    HTTP_GET {\n      url {\n        path /\n        status_code 200\n      }\n      connect_timeout 1\n    }\n")
			}
			sb.WriteString("  }\n")
		}
		sb.WriteString("}\n")
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

type server struct {
	cmd   *proc
	in    io.WriteCloser
	lines chan string
}

func (b *bench) startServers(kind string, n int, log string) (*server, error) {
	pr, pw := io.Pipe()
	lines := make(chan string, 16)
	argv := []string{b.self, "serve", "-addrs", strings.Join(rsAddrs(n), ","), "-port", strconv.Itoa(firstPort),
		"-ports", strconv.Itoa(portsPerIP), "-n", strconv.Itoa(n)}
	if kind == "http" {
		argv = append(argv, "-http")
	}
	cmd, err := b.start(b.ns("srv"), b.o.serverCPU, nil, pr, log, func(s string) {
		select {
		case lines <- s:
		default:
		}
	}, argv...)
	if err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, in: pw, lines: lines}
	if err := s.await("ready", 60*time.Second); err != nil {
		b.stop(cmd, nil)
		return nil, fmt.Errorf("real servers: %w", err)
	}
	return s, nil
}

func (s *server) await(prefix string, d time.Duration) error {
	t := time.After(d)
	for {
		select {
		case l := <-s.lines:
			if strings.HasPrefix(l, prefix) {
				return nil
			}
			if strings.HasPrefix(l, "serve:") {
				return fmt.Errorf("%s", l)
			}
		case <-t:
			return fmt.Errorf("no %q after %v", prefix, d)
		}
	}
}

func (b *bench) runCase(kind string, n int) (row, error) {
	r := row{n: n, kind: kind}
	if err := b.setupNet(n); err != nil {
		return r, err
	}
	cdir := filepath.Join(b.dir, fmt.Sprintf("%s-%d", kind, n))
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return r, err
	}
	conf := filepath.Join(cdir, "keepalived.conf")
	if err := writeConfig(conf, kind, n); err != nil {
		return r, err
	}
	for _, side := range strings.Split(b.o.sides, ",") {
		fmt.Fprintf(os.Stderr, "bench-compare: N=%d %s: %s ...\n", n, kind, side)
		res, err := b.runSide(side, kind, n, conf, cdir)
		if err != nil {
			return r, fmt.Errorf("%s: %w", side, err)
		}
		fmt.Fprintf(os.Stderr, "bench-compare: N=%d %s: %s: %.0f checks/s, %.4f CPU s/1k, %.0f KiB RSS, down %.2fs (%d/%d), startup %.1fs\n",
			n, kind, side, res.rate(), res.cpuPer1k(), float64(res.rss)/1024, res.down.Seconds(), res.downN, n, res.startup.Seconds())
		if side == "quadrature" {
			r.q = res
		} else {
			r.k = res
		}
	}
	b.teardownNet()
	return r, nil
}

func (b *bench) runSide(side, kind string, n int, conf, cdir string) (sideResult, error) {
	res := sideResult{ran: true, own: -1}
	srv, err := b.startServers(kind, n, filepath.Join(cdir, side+"-servers.log"))
	if err != nil {
		return res, err
	}
	defer func() { srv.in.Close(); b.stop(srv.cmd, nil) }()

	dl := newDownLog()
	var argv, env []string
	var key func(string) (string, bool)
	var ready func(string) bool
	data := filepath.Join(cdir, side+"-data")
	switch side {
	case "keepalived":
		argv = []string{b.o.keepalived, "-n", "-l", "-G", "-C", "-f", conf,
			"-p", filepath.Join(cdir, "ka.pid"), "-c", filepath.Join(cdir, "ka-check.pid"),
			"-r", filepath.Join(cdir, "ka-vrrp.pid"), "-b", filepath.Join(cdir, "ka-bfd.pid")}
		env = []string{"LD_PRELOAD=" + b.shim}
		key, ready = kaDownKey, kaReady
	case "quadrature":
		argv = []string{b.o.quadrature, "agent", "-config", conf, "-node", "bench", "-data-dir", data,
			"-backend", b.o.backend, "-log-json", "-api-listen", "127.0.0.1:9900"}
		key, ready = qDownKey, qReady
	}
	t0 := time.Now()
	cmd, err := b.start(b.ns("dir"), b.o.cpu, env, nil, filepath.Join(cdir, side+".log"),
		func(s string) { dl.line(s, key, ready) }, argv...)
	if err != nil {
		return res, err
	}
	var tree []int
	defer func() { b.stop(cmd, tree) }()
	exited := cmd.done
	select {
	case <-dl.ready:
	case <-exited:
		return res, fmt.Errorf("exited at start:\n%s", dl.lastLines())
	case <-time.After(120 * time.Second):
		return res, fmt.Errorf("not started after 120 s:\n%s", dl.lastLines())
	}
	// Wait until the checks run at the rate delay_loop 1 asks for (90 %).
	prev, err := b.syns()
	if err != nil {
		return res, err
	}
	prevT := time.Now()
	for {
		time.Sleep(time.Second)
		cur, err := b.syns()
		if err != nil {
			return res, err
		}
		now := time.Now()
		rate := float64(cur-prev) / now.Sub(prevT).Seconds()
		prev, prevT = cur, now
		if rate >= 0.9*float64(n) {
			break
		}
		if now.Sub(t0) > 180*time.Second {
			fmt.Fprintf(os.Stderr, "bench-compare: %s never reached %d checks/s (last %.0f/s); measuring anyway\n", side, n, rate)
			break
		}
		select {
		case <-exited:
			return res, fmt.Errorf("exited:\n%s", dl.lastLines())
		default:
		}
	}
	res.startup = time.Since(t0)
	time.Sleep(b.o.settle)

	pid := cmd.pid()
	var own0 float64
	var ownT0 time.Time
	if side == "quadrature" {
		if own0, err = b.ownChecks(); err != nil {
			return res, err
		}
		ownT0 = time.Now()
	}
	s0, err := b.syns()
	if err != nil {
		return res, err
	}
	_, c0, _ := procTree(pid)
	w0 := time.Now()
	var profDone chan struct{}
	if side == "quadrature" && b.o.pprofDir != "" {
		profDone = make(chan struct{})
		secs := int(min(b.o.duration.Seconds()-2, 55))
		go func() {
			defer close(profDone)
			b.fetchPprof(data, fmt.Sprintf("profile?seconds=%d", max(secs, 1)), fmt.Sprintf("cpu-%s-%d.pb.gz", kind, n))
		}()
	}
	end := w0.Add(b.o.duration)
	for time.Now().Before(end) {
		time.Sleep(min(time.Second, time.Until(end)))
		_, _, rss := procTree(pid)
		res.rssPeak = max(res.rssPeak, rss)
	}
	s1, err := b.syns()
	if err != nil {
		return res, err
	}
	tree, c1, rss := procTree(pid)
	w1 := time.Now()
	res.window = w1.Sub(w0).Seconds()
	res.cpu, res.checks, res.rss = c1-c0, s1-s0, rss
	if side == "quadrature" {
		own1, err := b.ownChecks()
		if err != nil {
			return res, err
		}
		res.own = (own1 - own0) / time.Since(ownT0).Seconds()
		if profDone != nil {
			<-profDone
			b.fetchPprof(data, "heap?gc=1", fmt.Sprintf("heap-%s-%d.pb.gz", kind, n))
		}
	}

	// All real servers down at once: how long until the side marks every
	// one of them down?
	dl.arm()
	if _, err := io.WriteString(srv.in, "down\n"); err != nil {
		return res, err
	}
	if err := srv.await("down", 30*time.Second); err != nil {
		return res, err
	}
	stopped := time.Now()
	deadline := stopped.Add(b.o.downWait)
	for {
		c, last := dl.count()
		if c >= n || time.Now().After(deadline) {
			res.downN = c
			if c > 0 {
				res.down = last.Sub(stopped)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return res, nil
}

// curl runs curl inside the director's namespace (the agent's API listens
// on its loopback).
func (b *bench) curl(args ...string) ([]byte, error) {
	full := append([]string{"netns", "exec", b.ns("dir"), "curl", "-sS", "--fail", "--max-time", "70"}, args...)
	out, err := exec.Command("ip", full...).Output()
	if err != nil {
		return nil, fmt.Errorf("curl %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// ownChecks sums quadrature_check_results_total over its labels.
func (b *bench) ownChecks() (float64, error) {
	out, err := b.curl("http://127.0.0.1:9900/metrics")
	if err != nil {
		return 0, err
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "quadrature_check_results_total") {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, nil
}

func (b *bench) fetchPprof(data, what, file string) {
	tok, err := os.ReadFile(filepath.Join(data, "api-token"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-compare: pprof: %v\n", err)
		return
	}
	if err := os.MkdirAll(b.o.pprofDir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "bench-compare: pprof: %v\n", err)
		return
	}
	out, err := b.curl("-H", "Authorization: Bearer "+strings.TrimSpace(string(tok)), "http://127.0.0.1:9900/debug/pprof/"+what)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-compare: pprof %s: %v\n", what, err)
		return
	}
	path := filepath.Join(b.o.pprofDir, file)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "bench-compare: pprof: %v\n", err)
		return
	}
	fmt.Fprintf(os.Stderr, "bench-compare: pprof: wrote %s\n", path)
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func num(ran bool, format string, v float64) string {
	if !ran {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func kaVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	l, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(l)
}

func printTable(w io.Writer, o options, rows []row, final bool) {
	if !final {
		return
	}
	fmt.Fprintf(w, "\nbench-compare: one keepalived.conf per row (delay_loop 1, connect_timeout 1), each side pinned to core %d, real servers on core %d, %v measured per side\n",
		o.cpu, o.serverCPU, o.duration)
	fmt.Fprintf(w, "quadrature: %s agent, single node, -backend %s; keepalived: %s -C with the IPVS socket-option shim (no ip_vs module on this kernel)\n",
		o.quadrature, o.backend, kaVersion(o.keepalived))
	fmt.Fprintf(w, "checks/s: SYNs received by the real servers (the same count for both); q-own: quadrature_check_results_total\n\n")
	fmt.Fprintf(w, "%-6s %-5s | %-24s | %-24s | %-13s | %-22s | %-12s\n", "", "", "CPU s / 1k checks", "RSS / checker (KiB)", "RSS (MB)", "checks/s", "all down (s)")
	fmt.Fprintf(w, "%-6s %-5s | %7s %7s %8s | %7s %7s %8s | %6s %6s | %7s %7s %6s | %5s %6s\n",
		"N", "check", "quad", "keep", "q/k", "quad", "keep", "q/k", "quad", "keep", "quad", "keep", "q-own", "quad", "keep")
	for _, r := range rows {
		qa, ka := r.q, r.k
		qr := float64(qa.rss) / 1024 / float64(r.n)
		kr := float64(ka.rss) / 1024 / float64(r.n)
		own := "-"
		if qa.ran && qa.own >= 0 {
			own = fmt.Sprintf("%.0f", qa.own)
		}
		fmt.Fprintf(w, "%-6d %-5s | %7s %7s %8s | %7s %7s %8s | %6s %6s | %7s %7s %6s | %5s %6s\n",
			r.n, r.kind,
			num(qa.ran, "%.4f", qa.cpuPer1k()), num(ka.ran, "%.4f", ka.cpuPer1k()), ratio(qa.cpuPer1k(), ka.cpuPer1k()),
			num(qa.ran, "%.2f", qr), num(ka.ran, "%.2f", kr), ratio(qr, kr),
			num(qa.ran, "%.1f", float64(qa.rss)/1e6), num(ka.ran, "%.1f", float64(ka.rss)/1e6),
			num(qa.ran, "%.0f", qa.rate()), num(ka.ran, "%.0f", ka.rate()), own,
			downStr(qa, r.n), downStr(ka, r.n))
	}
	fmt.Fprintln(w)
}

func downStr(r sideResult, n int) string {
	if !r.ran {
		return "-"
	}
	if r.downN < n {
		return fmt.Sprintf(">%d/%d", r.downN, n)
	}
	return fmt.Sprintf("%.2f", r.down.Seconds())
}
