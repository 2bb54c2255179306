package loopguard

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"quadrature/lvs"
)

func TestNewBadOptions(t *testing.T) {
	for _, o := range []Options{
		{TableName: "bad name"},
		{TableName: strings.Repeat("x", 65)},
		{TableName: "-x"},
		{NetNSPath: "/nonexistent/netns"},
	} {
		if g, err := New(o); err == nil {
			g.Detach()
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// TestNewUnprivileged: without CAP_NET_ADMIN (the test binary re-run as
// nobody) New fails with lvs.ErrUnavailable, so the agent can say the
// guard is off instead of crashing.
func TestNewUnprivileged(t *testing.T) {
	if os.Getenv("LOOPGUARD_CHILD") == "1" {
		g, err := New(Options{})
		if err == nil {
			g.Detach()
			t.Fatalf("New succeeded as uid %d", os.Getuid())
		}
		if !errors.Is(err, lvs.ErrUnavailable) {
			t.Fatalf("New as uid %d: %v, want lvs.ErrUnavailable", os.Getuid(), err)
		}
		t.Logf("as uid %d: %v", os.Getuid(), err)
		return
	}
	requireRoot(t)
	// The go test build directory is private to root: run a copy.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "loopguard")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "loopguard.test")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestNewUnprivileged$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LOOPGUARD_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNewUnprivileged") {
		t.Fatalf("unprivileged child: %v\n%s", err, out)
	}
}
