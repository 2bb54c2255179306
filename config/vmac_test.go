package config

import (
	"strings"
	"testing"
)

func TestVMACDecode(t *testing.T) {
	ok := []struct {
		name, lines string
		check       func(in VRRPInstance) bool
	}{
		{"bare", " use_vmac", func(in VRRPInstance) bool { return in.VMAC != nil && in.VMAC.Name == "" && in.VMAC.MAC == "" }},
		{"name mac", " use_vmac name vr51 02:00:5e:aa:bb:cc\n vmac_xmit_base", func(in VRRPInstance) bool {
			return in.VMAC.Name == "vr51" && in.VMAC.MAC == "02:00:5e:aa:bb:cc" && in.VMAC.XmitBase
		}},
		{"five octets", " use_vmac 02:00:5e:aa:bb", func(in VRRPInstance) bool { return in.VMAC.MAC == "02:00:5e:aa:bb" }},
		{"ipvlan", " use_ipvlan ipv51 192.0.2.9/24 private", func(in VRRPInstance) bool {
			return in.IPVLAN != nil && in.IPVLAN.Name == "ipv51" && in.IPVLAN.Addr.String() == "192.0.2.9/24" && in.IPVLAN.Mode == "private"
		}},
	}
	for _, tc := range ok {
		c, _, err := loadMem(t, memFS{"main.conf": inst(tc.lines)}, "n")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.check(c.Instances[0]) {
			t.Errorf("%s: %s", tc.name, c.JSON())
		}
		// Render and load back: the same model.
		c2, _, err := loadMem(t, memFS{"main.conf": string(c.Render())}, "n")
		if err != nil || !Equal(c, c2) {
			t.Errorf("%s: render round trip: %v\n%s", tc.name, err, c.Render())
		}
	}
	bad := []struct{ name, lines, want string }{
		{"two names", " use_vmac a b", "main.conf:7: use_vmac: interface name given twice (a and b)"},
		{"bad mac", " use_vmac 00:zz:5e:00:01:02", `main.conf:7: use_vmac: "00:zz:5e:00:01:02" is not a MAC address`},
		{"multicast", " use_vmac 01:00:5e:00:01:02", "main.conf:7: use_vmac: 01:00:5e:00:01:02 is a multicast address"},
		{"long name", " use_vmac abcdefghijklmnopq", `main.conf:7: use_vmac: "abcdefghijklmnopq" is not a valid interface name`},
		{"xmit alone", " vmac_xmit_base", "main.conf:7: vrrp_instance VI: vmac_xmit_base without use_vmac"},
		{"both", " use_vmac\n use_ipvlan", "main.conf:8: vrrp_instance VI: use_vmac and use_ipvlan exclude each other"},
		{"ipvlan family", " use_ipvlan 2001:db8::9", "main.conf:7: vrrp_instance VI: use_ipvlan address 2001:db8::9/128 is not of the instance's family"},
		{"ipvlan mode twice", " use_ipvlan bridge vepa", "main.conf:7: use_ipvlan: mode given twice (bridge and vepa)"},
		{"same as interface", " use_vmac eth0", "main.conf:2: vrrp_instance VI: the VMAC interface eth0 is the instance's interface"},
	}
	for _, tc := range bad {
		_, _, err := loadMem(t, memFS{"main.conf": inst(tc.lines)}, "n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	// keepalived ignores an RFC 5798 address given as the MAC: a warning.
	c, diags, err := loadMem(t, memFS{"main.conf": inst(" use_vmac 00:00:5e:00:01:07")}, "n")
	if err != nil || c.Instances[0].VMAC.MAC != "" {
		t.Fatalf("RFC 5798 MAC: %v %s", err, c.JSON())
	}
	found := false
	for _, d := range diags {
		found = found || strings.Contains(d.String(), "main.conf:7: warning: use_vmac: 00:00:5e:00:01:07 is an RFC 5798 address")
	}
	if !found {
		t.Errorf("no warning for the RFC 5798 MAC: %v", diags)
	}
}
