package vrrp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
)

// capturedPacket is one VRRP packet read from a pcap file.
type capturedPacket struct {
	Src, Dst netip.Addr
	TTL      int
	PDU      []byte
}

// readPcap reads a classic little-endian pcap file with Ethernet framing
// (what tcpdump -i eth0 -w writes) and returns its IP protocol 112
// packets.
func readPcap(path string) ([]capturedPacket, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b[0:4]) != 0xa1b2c3d4 {
		return nil, fmt.Errorf("%s: not a little-endian pcap file", path)
	}
	if lt := binary.LittleEndian.Uint32(b[20:24]); lt != 1 {
		return nil, fmt.Errorf("%s: link type %d, want Ethernet", path, lt)
	}
	var out []capturedPacket
	for off := 24; off+16 <= len(b); {
		incl := int(binary.LittleEndian.Uint32(b[off+8 : off+12]))
		off += 16
		if off+incl > len(b) {
			return nil, fmt.Errorf("%s: truncated record", path)
		}
		frame := b[off : off+incl]
		off += incl
		if len(frame) < 14 {
			continue
		}
		eth := binary.BigEndian.Uint16(frame[12:14])
		ip := frame[14:]
		switch {
		case eth == 0x0800 && len(ip) >= 20 && ip[9] == IPProtocol:
			hl := int(ip[0]&0x0f) * 4
			tl := int(binary.BigEndian.Uint16(ip[2:4]))
			if tl > len(ip) || hl > tl {
				return nil, fmt.Errorf("%s: bad IPv4 header", path)
			}
			out = append(out, capturedPacket{
				Src: netip.AddrFrom4([4]byte(ip[12:16])), Dst: netip.AddrFrom4([4]byte(ip[16:20])),
				TTL: int(ip[8]), PDU: ip[hl:tl],
			})
		case eth == 0x86dd && len(ip) >= 40 && ip[6] == IPProtocol:
			pl := int(binary.BigEndian.Uint16(ip[4:6]))
			if 40+pl > len(ip) {
				return nil, fmt.Errorf("%s: bad IPv6 header", path)
			}
			out = append(out, capturedPacket{
				Src: netip.AddrFrom16([16]byte(ip[8:24])), Dst: netip.AddrFrom16([16]byte(ip[24:40])),
				TTL: int(ip[7]), PDU: ip[40 : 40+pl],
			})
		}
	}
	return out, nil
}
