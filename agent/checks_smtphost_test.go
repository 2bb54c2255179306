package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"quadrature/checks"
	"quadrature/config"
	"quadrature/internal/netnstest"
)

const smtpHostConf = `virtual_server 198.51.100.10 25 {
  protocol TCP
  real_server 198.51.100.1 2525 {
    SMTP_CHECK {
      connect_timeout 1
      host {
        connect_ip 198.51.100.1
      }
      host {
        connect_ip 198.51.100.2
        connect_port %d
      }
    }
  }
}
`

func smtpSpecs(t *testing.T, port int) []checks.Spec {
	t.Helper()
	src := []byte(fmt.Sprintf(smtpHostConf, port))
	cfg, _, err := config.LoadBytes("s.conf", src, config.LoadOptions{Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	specs, _ := CheckSpecs(cfg)
	return specs[0].Checkers
}

// Two host blocks and no connection of the checker's own: two checks, one
// per host, as keepalived 2.2.7 makes them.
func TestSMTPHostSpecs(t *testing.T) {
	sp := smtpSpecs(t, 2526)
	if len(sp) != 2 {
		t.Fatalf("%d specs, want 2: %+v", len(sp), sp)
	}
	if sp[0].ConnectIP.String() != "198.51.100.1" || sp[0].ConnectPort != 2525 ||
		sp[1].ConnectIP.String() != "198.51.100.2" || sp[1].ConnectPort != 2526 || sp[0].ID == sp[1].ID {
		t.Fatalf("specs %+v", sp)
	}
}

// Against a real SMTP server (aiosmtpd) in a namespace: every host must
// answer; a host with nothing listening makes its check fail.
func TestSMTPHostsRealServer(t *testing.T) {
	netnstest.RequireRoot(t)
	py := netnstest.RequireBinary(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import aiosmtpd").Run(); err != nil {
		netnstest.SkipOrFail(t, "python3-aiosmtpd missing (deploy/deps.sh)")
	}
	lab := netnstest.NewLab(t)
	h := lab.AddHost("mta", "198.51.100.1/24", "198.51.100.2/24")
	for _, l := range []string{"198.51.100.1:2525", "198.51.100.2:2526"} {
		cmd := h.Command(py, "-m", "aiosmtpd", "-n", "-l", l, "-c", "aiosmtpd.handlers.Sink")
		cmd.Stderr = os.Stderr
		if err := h.Start(cmd); err != nil {
			t.Fatal(err)
		}
	}
	run := func(port int) []bool {
		var ups []bool
		for _, s := range smtpSpecs(t, port) {
			c, err := checks.NewChecker(s, checks.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var up bool
			if err := h.Do(func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				up = c.Check(ctx).Up
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			ups = append(ups, up)
		}
		return ups
	}
	var got []bool
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) { // aiosmtpd takes a moment to listen
		if got = run(2526); got[0] && got[1] {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !got[0] || !got[1] {
		t.Fatalf("both hosts listen, checks up %v", got)
	}
	if got = run(2599); !got[0] || got[1] {
		t.Fatalf("second host has nothing on its port, checks up %v, want [true false]", got)
	}
}
