//go:build linux

package ipvs

import (
	"errors"
	"os"
	"os/exec"
	"quadrature/lvs"
	"strings"
	"syscall"
	"testing"
)

// TestVMUnprivileged: with IPVS loaded but without CAP_NET_ADMIN (the
// test binary re-run as nobody), NewIPVS fails cleanly with
// ErrUnavailable and says to run as root.
func TestVMUnprivileged(t *testing.T) {
	requireVM(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestVMUnprivilegedChild$", "-test.v")
	cmd.Env = append(os.Environ(), "QUADRATURE_VM_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	t.Logf("unprivileged child:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestVMUnprivilegedChild") {
		t.Fatalf("child failed: %v", err)
	}
}

func TestVMUnprivilegedChild(t *testing.T) {
	if os.Getenv("QUADRATURE_VM_CHILD") != "1" {
		t.Skip("run by TestVMUnprivileged")
	}
	v, err := New()
	if err == nil {
		v.Close()
		t.Fatalf("NewIPVS succeeded as uid %d", os.Getuid())
	}
	if !errors.Is(err, lvs.ErrUnavailable) || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
		t.Fatalf("error %v: want ErrUnavailable naming CAP_NET_ADMIN", err)
	}
	t.Logf("as uid %d: %v", os.Getuid(), err)
}
