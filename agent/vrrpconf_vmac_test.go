package agent

import (
	"testing"

	"quadrature/config"
)

// TestVRRPConfigVMAC: use_vmac (a five-octet MAC takes the VRID) and
// use_ipvlan reach the vrrp model, and the result validates.
func TestVRRPConfigVMAC(t *testing.T) {
	src := "vrrp_instance A {\n interface eth0\n virtual_router_id 51\n use_vmac vr51 02:00:5e:aa:bb\n vmac_xmit_base\n virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n" +
		"vrrp_instance B {\n interface eth0\n virtual_router_id 52\n use_ipvlan 192.0.2.12/24 vepa\n virtual_ipaddress {\n  192.0.2.101/24\n }\n}\n"
	c, _, err := config.LoadBytes("t.conf", []byte(src), config.LoadOptions{Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	vc := VRRPConfig(c)
	if err := vc.Validate(); err != nil {
		t.Fatal(err)
	}
	a, b := vc.Instances[0].VMAC, vc.Instances[1].VMAC
	if a == nil || a.IPVLAN || a.Name != "vr51" || a.MAC.String() != "02:00:5e:aa:bb:33" || !a.XmitBase {
		t.Errorf("use_vmac: %+v", a)
	}
	if b == nil || !b.IPVLAN || b.Name != "" || b.IPVLANAddr.String() != "192.0.2.12/24" || b.IPVLANMode != "vepa" {
		t.Errorf("use_ipvlan: %+v", b)
	}
}
