package vrrp

import (
	"encoding/hex"
	"net"
	"net/netip"
	"testing"
)

var testMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x20, 0x30}

func TestGARPFrame(t *testing.T) {
	got := hex.EncodeToString(garpFrame(testMAC, netip.MustParseAddr("192.0.2.100")))
	want := "ffffffffffff" + "02005e102030" + "0806" + // Ethernet: broadcast, ours, ARP
		"0001" + "0800" + "06" + "04" + "0001" + // Ethernet/IPv4, request
		"02005e102030" + "c0000264" + // sender: our MAC, VIP
		"ffffffffffff" + "c0000264" // target: broadcast, VIP
	if got != want {
		t.Errorf("GARP\n got %s\nwant %s", got, want)
	}
}

func TestNAFrame(t *testing.T) {
	vip := netip.MustParseAddr("2001:db8::100")
	for _, router := range []bool{false, true} {
		f := naFrame(testMAC, vip, router)
		if hex.EncodeToString(f[0:14]) != "33330000000102005e10203086dd" {
			t.Errorf("Ethernet header %x", f[0:14])
		}
		ip := f[14:54]
		if ip[0]>>4 != 6 || ip[6] != 58 || ip[7] != 255 || int(ip[4])<<8|int(ip[5]) != 32 {
			t.Errorf("IPv6 header %x", ip)
		}
		if netip.AddrFrom16([16]byte(ip[8:24])) != vip || netip.AddrFrom16([16]byte(ip[24:40])) != netip.MustParseAddr("ff02::1") {
			t.Errorf("addresses %x", ip[8:40])
		}
		icmp := f[54:]
		flags := icmp[4]
		if icmp[0] != 136 || flags&0x20 == 0 || (flags&0x80 != 0) != router || flags&0x40 != 0 {
			t.Errorf("router=%v: type %d flags %#x (want Override, Router=%v, no Solicited)", router, icmp[0], flags, router)
		}
		if netip.AddrFrom16([16]byte(icmp[8:24])) != vip || icmp[24] != 2 || icmp[25] != 1 || net.HardwareAddr(icmp[26:32]).String() != testMAC.String() {
			t.Errorf("target / option %x", icmp[8:])
		}
		// The ICMPv6 checksum over pseudo-header + message must fold to 0xffff.
		var sum uint32
		sum = sumBytes(sum, ip[8:40])
		sum += uint32(len(icmp)) + 58
		sum = sumBytes(sum, icmp)
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		if sum != 0xffff {
			t.Errorf("ICMPv6 checksum does not verify (%#x)", sum)
		}
	}
}
