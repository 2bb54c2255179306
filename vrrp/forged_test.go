package vrrp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"quadrature/internal/netnstest"
)

// forger sends crafted adverts from a namespace that is not a member.
type forger struct {
	t   *testing.T
	fd  int
	src netip.Addr
}

func newForger(t *testing.T, ns *netnstest.NS, src string) *forger {
	t.Helper()
	f := &forger{t: t, fd: -1, src: netip.MustParseAddr(src)}
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 112)
		if err != nil {
			return err
		}
		f.fd = fd
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, TTL); err != nil {
			return err
		}
		return unix.BindToDevice(fd, "eth0")
	})
	if f.fd >= 0 {
		t.Cleanup(func() { unix.Close(f.fd) })
	}
	if err != nil {
		t.Fatalf("forger socket: %v", err)
	}
	return f
}

func (f *forger) send(a Advert) {
	f.t.Helper()
	b, err := a.Marshal(false, f.src, GroupIPv4, false)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := unix.Sendto(f.fd, b, 0, &unix.SockaddrInet4{Addr: GroupIPv4.As4()}); err != nil {
		f.t.Fatalf("send forged advert: %v", err)
	}
}

// A host on the LAN that is not a member of the group forges adverts of
// priority 255 (address owner): RFC 5798 makes the members yield (kept,
// as keepalived does), and both count the adverts and report the forger
// as a foreign master; when it stops, the members elect among
// themselves again and the report clears.
func TestForgedOwnerAdvert(t *testing.T) {
	lab := netnstest.NewLab(t)
	const vip = "192.0.2.100"
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	x := lab.AddHost("x", "192.0.2.66/24")
	pa := startNode(t, a, lanConfig(150, 100*ms, vip+"/32"))
	pb := startNode(t, b, lanConfig(100, 100*ms, vip+"/32"))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pb.waitState(t, "VI_1", StateBackup, time.Second)
	for _, p := range []*proc{pa, pb} {
		p.setKnownPeers("192.0.2.1", "192.0.2.2")
	}
	if s := pb.Status()[0]; s.ForeignMaster.IsValid() {
		t.Fatalf("member master reported foreign: %+v", s)
	}

	f := newForger(t, x, "192.0.2.66")
	forged := Advert{Version: 3, VRID: 42, Priority: PriorityOwner, Interval: 100 * ms, Addrs: []netip.Addr{netip.MustParseAddr(vip)}}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(100 * ms)
		defer tk.Stop()
		for {
			f.send(forged)
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	stopForging := func() {
		select {
		case <-stop:
		default:
			close(stop)
			<-done
		}
	}
	t.Cleanup(stopForging)

	pa.waitState(t, "VI_1", StateBackup, 2*time.Second)
	waitAddr(t, a, vip, false, time.Second)
	time.Sleep(300 * ms)
	forger := netip.MustParseAddr("192.0.2.66")
	for _, p := range []*proc{pa, pb} {
		s := p.Status()[0]
		if s.State != StateBackup || s.MasterAddr != forger || s.ForeignMaster != forger {
			t.Errorf("%s under forged adverts: state %v master %v foreign %v", p.name, s.State, s.MasterAddr, s.ForeignMaster)
		}
		if s.Counters.OwnerAdverts == 0 {
			t.Errorf("%s: no owner advert counted: %+v", p.name, s.Counters)
		}
		log := p.stderr.String()
		for _, want := range []string{"VRRP master is not a member of the group", "priority 255 (address owner)", "source=192.0.2.66"} {
			if c := strings.Count(log, want); c != 1 {
				t.Errorf("%s: %d log lines with %q, want 1 (rate-limited)", p.name, c, want)
			}
		}
	}

	stopForging()
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	waitAddr(t, a, vip, true, time.Second)
	time.Sleep(300 * ms)
	for _, p := range []*proc{pa, pb} {
		if s := p.Status()[0]; s.ForeignMaster.IsValid() {
			t.Errorf("%s: foreign master %v after the forger stopped", p.name, s.ForeignMaster)
		}
	}
	if s := pb.Status()[0]; s.MasterAddr != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("b follows %v, want a", s.MasterAddr)
	}
}
