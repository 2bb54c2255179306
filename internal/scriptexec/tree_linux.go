package scriptexec

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Containment mechanisms (see the package documentation and Containment).
const (
	ContainCgroup2 = "cgroup2"         // a cgroup v2 per run, the script cloned into it
	ContainPids    = "cgroup1-pids"    // a v1 pids cgroup per run, plus the marker scan
	ContainFreezer = "cgroup1-freezer" // a v1 freezer cgroup per run, plus the marker scan
	ContainMarker  = "marker"          // the marker scan of /proc alone
)

// cgroupPrefix starts the name of every per-run cgroup:
// quadrature-script-<our pid>-<sequence>.
const cgroupPrefix = "quadrature-script-"

// cgroupBase is where per-run cgroups are created: a directory of our own
// cgroup in the hierarchy found at start.
type cgroupBase struct {
	mode string // ContainCgroup2, ContainPids or ContainFreezer
	dir  string // our own cgroup's directory
	kill bool   // v2 cgroup.kill is available (Linux ≥ 5.14)
}

var (
	detectOnce sync.Once
	base       *cgroupBase // nil: no writable cgroup hierarchy
	// cloneInto is cleared when the kernel refuses CLONE_INTO_CGROUP
	// (older than 5.7, or the cgroup cannot take processes): the pid is
	// then written after start and the marker scan catches what forked
	// before.
	cloneInto atomic.Bool
	runSeq    atomic.Uint64
)

// Containment returns the mechanism that ends the processes a script
// leaves behind on this host: ContainCgroup2, ContainPids,
// ContainFreezer or ContainMarker.
func Containment() string {
	detect()
	if base == nil {
		return ContainMarker
	}
	return base.mode
}

func detect() {
	detectOnce.Do(func() {
		mounts, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return
		}
		own, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return
		}
		for _, mode := range []string{ContainCgroup2, ContainPids, ContainFreezer} {
			dir := cgroupDir(string(mounts), string(own), mode)
			if dir == "" || !probe(dir) {
				continue
			}
			b := &cgroupBase{mode: mode, dir: dir}
			if mode == ContainCgroup2 {
				_, err := os.Stat(filepath.Join(dir, "cgroup.kill"))
				b.kill = err == nil
				if !b.kill {
					// The root cgroup has no cgroup.kill; children do on ≥ 5.14.
					b.kill = probeKill(dir)
				}
				cloneInto.Store(true)
			}
			base = b
			removeStale(dir)
			return
		}
	})
}

// cgroupDir returns the directory of our own cgroup in the hierarchy of
// mode ("" when it is not mounted), from /proc/self/mountinfo and
// /proc/self/cgroup.
func cgroupDir(mountinfo, own, mode string) string {
	controller := map[string]string{ContainPids: "pids", ContainFreezer: "freezer"}[mode]
	var mnt, root string
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		switch {
		case mode == ContainCgroup2 && g[0] == "cgroup2":
		case mode != ContainCgroup2 && g[0] == "cgroup" && hasOpt(g[2], controller):
		default:
			continue
		}
		root, mnt = unescapeMount(f[3]), unescapeMount(f[4])
		break
	}
	if mnt == "" {
		return ""
	}
	path := ""
	found := false
	for _, line := range strings.Split(own, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if (mode == ContainCgroup2 && parts[0] == "0" && parts[1] == "") ||
			(mode != ContainCgroup2 && hasOpt(parts[1], controller)) {
			path, found = parts[2], true
			break
		}
	}
	if !found {
		return ""
	}
	if root != "/" {
		// A bind mount of a subtree (containers): paths are relative to it.
		rel, ok := strings.CutPrefix(path, root)
		if !ok {
			return ""
		}
		path = rel
	}
	return filepath.Join(mnt, path)
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// probe reports whether we may create (and remove) a cgroup in dir.
func probe(dir string) bool {
	p := filepath.Join(dir, fmt.Sprintf("%sprobe-%d", cgroupPrefix, os.Getpid()))
	if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return false
	}
	if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err != nil {
		_ = syscall.Rmdir(p)
		return false
	}
	return syscall.Rmdir(p) == nil
}

func probeKill(dir string) bool {
	p := filepath.Join(dir, fmt.Sprintf("%sprobe-%d", cgroupPrefix, os.Getpid()))
	if err := os.Mkdir(p, 0o755); err != nil {
		return false
	}
	defer syscall.Rmdir(p)
	_, err := os.Stat(filepath.Join(p, "cgroup.kill"))
	return err == nil
}

// removeStale removes empty per-run cgroups left by a quadrature process
// that no longer exists (a crash between mkdir and rmdir).
func removeStale(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), cgroupPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		rest = strings.TrimPrefix(rest, "probe-")
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + pidStr); err == nil && pid > 0 {
			continue // its owner still runs
		}
		_ = syscall.Rmdir(filepath.Join(dir, e.Name()))
	}
}

// tree is the set of processes one run creates: the script and every
// descendant, found through the run's cgroup and its marker.
type tree struct {
	marker string // MarkerEnv=<id>
	dir    string // the run's cgroup, "" without one
	mode   string
	kill   bool // cgroup.kill
	fd     int  // the cgroup directory for CLONE_INTO_CGROUP, -1 without
	// atomic is set when the script was cloned into the cgroup: nothing
	// it starts can be outside it, and no marker scan is needed.
	atomic bool
}

func newTree() *tree {
	detect()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	id := fmt.Sprintf("%d-%d-%s", os.Getpid(), runSeq.Add(1), hex.EncodeToString(rnd[:]))
	t := &tree{marker: MarkerEnv + "=" + id, fd: -1, mode: ContainMarker}
	if b := base; b != nil {
		dir := filepath.Join(b.dir, cgroupPrefix+id)
		if err := os.Mkdir(dir, 0o755); err == nil {
			t.dir, t.mode, t.kill = dir, b.mode, b.kill
			if b.mode == ContainCgroup2 && cloneInto.Load() {
				if fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
					t.fd = fd
				}
			}
		}
	}
	return t
}

// prepare makes the child start inside the run's cgroup when the kernel
// can (CLONE_INTO_CGROUP), and reports whether it will.
func (t *tree) prepare(attr *syscall.SysProcAttr) bool {
	if t.fd >= 0 {
		attr.UseCgroupFD, attr.CgroupFD = true, t.fd
		return true
	}
	return false
}

// startFailed is called when Start failed; it reports whether to try
// again without CLONE_INTO_CGROUP (and then stops using it).
func (t *tree) startFailed(attr *syscall.SysProcAttr) bool {
	if !attr.UseCgroupFD {
		return false
	}
	attr.UseCgroupFD, attr.CgroupFD = false, 0
	t.closeFD()
	return true
}

// retrySucceeded records that Start worked without CLONE_INTO_CGROUP
// after failing with it: the kernel does not support it here.
func (t *tree) retrySucceeded() { cloneInto.Store(false) }

// started puts the script into the run's cgroup when it was not cloned
// into it (what it forked before is caught by the marker scan).
func (t *tree) started(pid int, cloned bool) {
	t.closeFD()
	if cloned {
		t.atomic = true
		return
	}
	if t.dir != "" {
		if err := os.WriteFile(filepath.Join(t.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			t.removeCgroup(time.Second)
			t.dir = ""
			t.mode = ContainMarker
		}
	}
}

// abort removes the cgroup of a run whose script could not start.
func (t *tree) abort() {
	t.closeFD()
	t.removeCgroup(time.Second)
}

func (t *tree) closeFD() {
	if t.fd >= 0 {
		_ = unix.Close(t.fd)
		t.fd = -1
	}
}

// killAll sends SIGKILL to every process of the run still alive (the
// script itself has been reaped) until none is left, removes the cgroup
// and returns how many processes it killed.
func (t *tree) killAll() int {
	t.closeFD()
	killed := 0
	if t.dir != "" {
		killed += t.killCgroup()
		t.removeCgroup(2 * time.Second)
	}
	if !t.atomic {
		killed += killMarked(t.marker, os.Getpid())
	}
	return killed
}

func (t *tree) killCgroup() int {
	procs := filepath.Join(t.dir, "cgroup.procs")
	fds := map[int]int{} // pid → pidfd (-1 without one)
	defer waitDead(fds, 2*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := readPids(procs)
		if len(pids) == 0 || time.Now().After(deadline) {
			return len(fds)
		}
		for _, pid := range pids {
			if _, ok := fds[pid]; !ok && pid > 0 && pid != os.Getpid() {
				fds[pid] = pidfd(pid)
			}
		}
		if t.kill {
			// Atomic against fork: every member, present and future.
			if err := os.WriteFile(filepath.Join(t.dir, "cgroup.kill"), []byte("1"), 0); err == nil {
				waitEmpty(t.dir, time.Second)
				continue
			}
		}
		// A process with SIGKILL pending cannot complete a fork, so this
		// converges: each pass kills what the previous one missed.
		for _, pid := range pids {
			if fd, ok := fds[pid]; ok {
				sigkill(pid, fd)
			}
		}
		time.Sleep(time.Millisecond)
	}
}

func pidfd(pid int) int {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1
	}
	return fd
}

func sigkill(pid, fd int) bool {
	if fd >= 0 {
		return unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil
	}
	return syscall.Kill(pid, syscall.SIGKILL) == nil
}

// waitDead waits until every process of fds has exited (its pidfd is
// readable: a zombie or reaped), at most d in all, and closes the fds.
// Without a pidfd it polls /proc.
func waitDead(fds map[int]int, d time.Duration) {
	deadline := time.Now().Add(d)
	for pid, fd := range fds {
		for {
			left := time.Until(deadline)
			if fd >= 0 {
				pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				n, err := unix.Poll(pfd, int(max(left.Milliseconds(), 0)))
				if n != 0 || left <= 0 || (err != nil && !errors.Is(err, unix.EINTR)) {
					break
				}
				continue
			}
			if zombie(pid) || left <= 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

// waitEmpty waits until the cgroup has no member left.
func waitEmpty(dir string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if len(readPids(filepath.Join(dir, "cgroup.procs"))) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// removeCgroup removes the run's cgroup; a killed process leaves it
// when it has exited, which can take a moment.
func (t *tree) removeCgroup(d time.Duration) {
	if t.dir == "" {
		return
	}
	deadline := time.Now().Add(d)
	for {
		err := syscall.Rmdir(t.dir)
		if err == nil || errors.Is(err, syscall.ENOENT) || time.Now().After(deadline) {
			// Left behind: removed by the next start (removeStale).
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// readPids returns the live (not zombie) processes listed in a
// cgroup.procs file.
func readPids(path string) []int {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var pids []int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombie reports whether pid has exited (or is gone) and waits for its
// parent to reap it.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

// killMarked kills, until none is left, every process whose environment
// holds marker (MarkerEnv=<run id>): the script's descendants that left
// its session and process group, whichever parent they were reparented
// to. It returns the number of processes killed, once they have exited.
func killMarked(marker string, self int) int {
	fds := map[int]int{}
	defer waitDead(fds, 2*time.Second)
	for pass := 0; pass < 100; pass++ {
		found := 0
		for _, pid := range markedProcesses(marker) {
			if pid == self {
				continue
			}
			found++
			if _, ok := fds[pid]; ok {
				continue // killed, still exiting
			}
			// Through a pidfd, checking the marker again once it is open,
			// so a pid reused in between is never hit.
			fd := pidfd(pid)
			if fd < 0 && errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
				continue
			}
			if hasMarker(pid, marker) && sigkill(pid, fd) {
				fds[pid] = fd
			} else if fd >= 0 {
				_ = unix.Close(fd)
			}
		}
		if found == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return len(fds)
}

// markedProcesses returns the pids of the live processes whose initial
// environment holds the exact entry marker ("NAME=value"). Processes it
// may not read (another user's, when not root) and zombies are skipped.
func markedProcesses(marker string) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []int
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if hasMarker(pid, marker) {
			out = append(out, pid)
		}
	}
	return out
}

func hasMarker(pid int, marker string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil || len(b) == 0 {
		return false
	}
	for _, e := range bytes.Split(b, []byte{0}) {
		if string(e) == marker {
			return true
		}
	}
	return false
}
