package nftables

import (
	"net/netip"
	"testing"

	"quadrature/lvs"
)

func TestSmoke(t *testing.T) {
	l := newLBLab(t, Options{})
	want := lvs.Table{Services: []lvs.Service{svc(lvs.TCP, vip4, "wrr", 1, 2, 3)}}
	l.sync(t, want)
	t.Log(l.ruleset(t))
	got := l.spread(t, "tcp", netip.AddrPortFrom(vip4, 80), 12)
	t.Log(got)
}
