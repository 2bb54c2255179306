package nftables

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"quadrature/internal/netnstest"
	"quadrature/lvs"
)

func TestCheckService(t *testing.T) {
	base := func() lvs.Service {
		return lvs.Service{
			Key:       lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP, Addr: netip.MustParseAddr("198.51.100.10"), Port: 80},
			Scheduler: "wrr",
			Destinations: []lvs.Destination{
				{Addr: netip.MustParseAddr("192.0.2.11"), Port: 80, Weight: 1},
				{Addr: netip.MustParseAddr("192.0.2.12"), Port: 80, Weight: 0},
			},
		}
	}
	cases := []struct {
		name   string
		mutate func(*lvs.Service)
		want   string // "" = supported
	}{
		{"wrr", func(*lvs.Service) {}, ""},
		{"rr", func(s *lvs.Service) { s.Scheduler = "rr" }, ""},
		{"sh persistent", func(s *lvs.Service) { s.Scheduler = "sh"; s.Persistence = time.Minute; s.Netmask = 24 }, ""},
		{"dh fwmark", func(s *lvs.Service) { s.Scheduler = "dh"; s.Key = lvs.ServiceKey{Family: lvs.IPv4, FWMark: 3} }, ""},
		{"udp", func(s *lvs.Service) { s.Key.Protocol = lvs.UDP }, ""},
		{"ipv6", func(s *lvs.Service) {
			s.Key.Addr = netip.MustParseAddr("2001:db8::1")
			s.Key.Family = lvs.IPv6
			s.Destinations = []lvs.Destination{{Addr: netip.MustParseAddr("2001:db8::2"), Weight: 1}}
		}, ""},
		{"wlc", func(s *lvs.Service) { s.Scheduler = "wlc" }, "nftables backend: service tcp/198.51.100.10:80: lb_algo wlc not supported (use rr, wrr, sh, dh)"},
		{"lc", func(s *lvs.Service) { s.Scheduler = "lc" }, "lb_algo lc not supported"},
		{"mh", func(s *lvs.Service) { s.Scheduler = "mh" }, "lb_algo mh not supported"},
		{"lblcr", func(s *lvs.Service) { s.Scheduler = "lblcr" }, "lb_algo lblcr not supported"},
		{"sh-port", func(s *lvs.Service) { s.Scheduler = "sh"; s.Flags = lvs.SchedFlag2 }, "scheduler flags 0x10"},
		{"ops", func(s *lvs.Service) { s.Key.Protocol = lvs.UDP; s.OnePacket = true }, "ops (one-packet scheduling) not supported"},
		{"sctp", func(s *lvs.Service) { s.Key.Protocol = lvs.SCTP }, "protocol SCTP not supported (use TCP, UDP)"},
		{"DR", func(s *lvs.Service) { s.Destinations[1].Method = lvs.DR }, "real_server 192.0.2.12:80: lb_kind DR not supported (use NAT)"},
		{"TUN", func(s *lvs.Service) { s.Destinations[0].Method = lvs.TUN }, "lb_kind TUN not supported"},
		{"uthreshold", func(s *lvs.Service) { s.Destinations[0].UpperThreshold = 10 }, "uthreshold not supported"},
		{"lthreshold", func(s *lvs.Service) { s.Destinations[0].LowerThreshold = 10 }, "lthreshold not supported"},
		{"negative weight", func(s *lvs.Service) { s.Destinations[0].Weight = -1 }, "negative weight"},
		{"mixed family", func(s *lvs.Service) { s.Destinations[0].Addr = netip.MustParseAddr("2001:db8::2") }, "family differs"},
		{"duplicate destination", func(s *lvs.Service) { s.Destinations[1] = s.Destinations[0] }, "listed twice"},
		{"sub-second persistence", func(s *lvs.Service) { s.Persistence = 1500 * time.Millisecond }, "whole seconds"},
		{"netmask 33", func(s *lvs.Service) { s.Persistence = time.Second; s.Netmask = 33 }, "persistence_granularity /33"},
		{"IPv4-mapped VIP", func(s *lvs.Service) { s.Key.Addr = netip.MustParseAddr("::ffff:198.51.100.10") }, "invalid virtual address"},
		{"no address", func(s *lvs.Service) { s.Key.Addr = netip.Addr{}; s.Key.Family = lvs.IPv4 }, "invalid virtual address"},
		{"total weight", func(s *lvs.Service) { s.Destinations[0].Weight = 1 << 30; s.Destinations[1].Weight = 1 << 30 }, "total weight"},
	}
	for _, c := range cases {
		s := base()
		c.mutate(&s)
		err := CheckService(s)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		case c.want != "" && !strings.HasPrefix(err.Error(), "nftables backend: "):
			t.Errorf("%s: error %q does not name the backend", c.name, err)
		}
		if dpErr := (&DataPlane{}).Supports(s); fmt.Sprint(dpErr) != fmt.Sprint(err) {
			t.Errorf("%s: Supports and CheckService disagree: %v vs %v", c.name, dpErr, err)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, e := range []error{syscall.EPERM, syscall.EPROTONOSUPPORT, fmt.Errorf("wrapped: %w", syscall.EOPNOTSUPP)} {
		if err := classify("x", e); !errors.Is(err, lvs.ErrUnavailable) || !errors.Is(err, e) {
			t.Errorf("classify(%v) = %v, want ErrUnavailable wrapping the cause", e, err)
		}
	}
	if err := classify("x", syscall.ENOENT); errors.Is(err, lvs.ErrUnavailable) {
		t.Errorf("ENOENT classified as unavailable: %v", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{TableName: "bad name"}, {TableName: "x;y"}, {Masquerade: 7}, {NetNSPath: "/nonexistent/netns"}} {
		if dp, err := New(o); err == nil {
			dp.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// TestUnavailableWithoutCapNetAdmin runs New in a child process that lost
// CAP_NET_ADMIN: the error must wrap lvs.ErrUnavailable.
func TestUnavailableWithoutCapNetAdmin(t *testing.T) {
	if os.Getenv("QUAD_NFT_NOCAP_CHILD") == "1" {
		_, err := New(Options{})
		fmt.Printf("unavailable=%v err=%v\n", errors.Is(err, lvs.ErrUnavailable), err)
		return
	}
	netnstest.RequireRoot(t)
	setpriv := netnstest.RequireBinary(t, "setpriv")
	cmd := exec.Command(setpriv, "--inh-caps=-net_admin", "--bounding-set=-net_admin", os.Args[0], "-test.run=^TestUnavailableWithoutCapNetAdmin$", "-test.count=1")
	cmd.Env = append(os.Environ(), "QUAD_NFT_NOCAP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "unavailable=true") {
		t.Fatalf("without CAP_NET_ADMIN New did not report ErrUnavailable:\n%s", out)
	}
	t.Logf("%s", strings.SplitN(string(out), "\n", 2)[0])
}

func TestParseMasquerade(t *testing.T) {
	for _, m := range []Masquerade{MasqueradeDNAT, MasqueradeOff} {
		if got, err := ParseMasquerade(m.String()); err != nil || got != m {
			t.Errorf("ParseMasquerade(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMasquerade("sometimes"); err == nil {
		t.Error("ParseMasquerade accepted nonsense")
	}
}
