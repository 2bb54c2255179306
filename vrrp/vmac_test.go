package vrrp

import (
	"net/netip"
	"testing"
)

// TestVMACNames: keepalived's default names, with the fallbacks when an
// instance already has vrrp.VRID, and the validation of bad settings.
func TestVMACNames(t *testing.T) {
	v4 := func(name string, vrid int, vmac string) InstanceConfig {
		return InstanceConfig{Name: name, Interface: "eth0", VRID: vrid, VMAC: &VMACConfig{Name: vmac},
			VIPs: []VIP{{Prefix: netip.MustParsePrefix("192.0.2.1/32")}}}
	}
	v6 := v4("C", 42, "")
	v6.Version, v6.VIPs = 3, []VIP{{Prefix: netip.MustParsePrefix("2001:db8::1/128")}}
	v6b := v6
	v6b.Name = "D"
	got := resolveVMACNames([]InstanceConfig{v4("A", 42, ""), v4("B", 43, "vrrp.42"), v6, v6b, v4("E", 42, "")})
	want := []string{"vrrp1.42", "vrrp.42", "vrrp6.42", "vrrp2.42", "vrrp3.42"}
	for i, ic := range got {
		if ic.VMAC.Name != want[i] {
			t.Errorf("%s: %s, want %s", ic.Name, ic.VMAC.Name, want[i])
		}
	}
	if m := VirtualMAC(42, true).String(); m != "00:00:5e:00:02:2a" {
		t.Errorf("IPv6 virtual MAC %s", m)
	}
	bad := v4("A", 1, "has:colon")
	if err := (NodeConfig{Instances: []InstanceConfig{bad}}).Validate(); err == nil {
		t.Errorf("invalid VMAC name accepted")
	}
	dup := NodeConfig{Instances: []InstanceConfig{v4("A", 1, "v"), v4("B", 2, "v")}}
	if err := dup.Validate(); err == nil {
		t.Errorf("VMAC name used twice accepted")
	}
}
