package ipvs

import (
	"errors"
	"os"
	"quadrature/lvs"
	"strings"
	"testing"
)

// TestIPVSUnavailable runs on hosts without IPVS (this project's build
// machine): NewIPVS must fail cleanly with ErrUnavailable and say what to
// do, never crash.
func TestIPVSUnavailable(t *testing.T) {
	if os.Getenv("QUADRATURE_VM") == "1" {
		t.Skip("inside the IPVS VM: IPVS is available here")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("this kernel has IPVS loaded; the VM tests cover it")
	}
	v, err := New()
	if err == nil {
		v.Close()
		t.Fatal("NewIPVS succeeded on a kernel without /proc/net/ip_vs")
	}
	if !errors.Is(err, lvs.ErrUnavailable) {
		t.Fatalf("error %v does not wrap ErrUnavailable", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "modprobe ip_vs") && !strings.Contains(msg, "CAP_NET_ADMIN") {
		t.Fatalf("error %q does not say what to do", msg)
	}
	t.Logf("NewIPVS: %v", err)
}
