package lvs

import "net/netip"

func a(s string) netip.Addr { return netip.MustParseAddr(s) }

func tcpKey(addr string, port uint16) ServiceKey {
	return ServiceKey{Family: FamilyOf(a(addr)), Protocol: TCP, Addr: a(addr), Port: port}
}
