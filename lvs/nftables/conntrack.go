package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Connection gauges come from conntrack: one ctnetlink dump of the
// connections whose mark carries ctMarkFlag (filtered in the kernel), each
// counted for the destination in the low mark bits. Like IPVS, a TCP
// connection in ESTABLISHED state is active and every other connection
// (TCP handshakes and closes, UDP flows) is inactive. The reconciler's
// graceful drain waits for a destination's active count to reach zero.

// ctnetlink constants (linux/netfilter/nfnetlink_conntrack.h).
const (
	ipctnlMsgCtGet          = 1
	ctaProtoinfo            = 4
	ctaMark                 = 8
	ctaMarkMask             = 21
	ctaProtoinfoTCP         = 1
	ctaProtoinfoTCPState    = 1
	tcpConntrackEstablished = 3
)

// connGauge is a destination's active and inactive connection counts.
type connGauge struct{ Active, Inactive uint32 }

// readConntrack counts our connections per destination ID.
func readConntrack(c *netlink.Conn) (map[uint32]connGauge, error) {
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: ctaMark, Data: binary.BigEndian.AppendUint32(nil, ctMarkFlag)},
		{Type: ctaMarkMask, Data: binary.BigEndian.AppendUint32(nil, ctMarkFlag)},
	})
	if err != nil {
		return nil, err
	}
	msgs, err := execDump(c, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_CTNETLINK<<8 | ipctnlMsgCtGet), Flags: netlink.Request | netlink.Dump},
		Data:   append(nfgenmsg(unix.AF_UNSPEC), attrs...),
	})
	if err != nil {
		return nil, fmt.Errorf("dump conntrack: %w", err)
	}
	out := map[uint32]connGauge{}
	for _, m := range msgs {
		mark, established, err := decodeCTMsg(m.Data)
		if err != nil {
			return nil, fmt.Errorf("dump conntrack: %w", err)
		}
		if mark&ctMarkFlag == 0 {
			continue
		}
		g := out[mark&^ctMarkFlag]
		if established {
			g.Active++
		} else {
			g.Inactive++
		}
		out[mark&^ctMarkFlag] = g
	}
	return out, nil
}

// decodeCTMsg extracts the mark and whether the connection is an
// established TCP connection from a ctnetlink message.
func decodeCTMsg(b []byte) (mark uint32, established bool, err error) {
	if len(b) < 4 {
		return 0, false, errShort
	}
	attrs, err := netlink.UnmarshalAttributes(b[4:])
	if err != nil {
		return 0, false, fmt.Errorf("conntrack attributes: %w", err)
	}
	for _, a := range attrs {
		switch a.Type & nlaTypeMask {
		case ctaMark:
			if len(a.Data) != 4 {
				return 0, false, errors.New("conntrack mark of wrong size")
			}
			mark = binary.BigEndian.Uint32(a.Data)
		case ctaProtoinfo:
			pi, err := netlink.UnmarshalAttributes(a.Data)
			if err != nil {
				return 0, false, fmt.Errorf("conntrack protoinfo: %w", err)
			}
			for _, p := range pi {
				if p.Type&nlaTypeMask != ctaProtoinfoTCP {
					continue
				}
				tcp, err := netlink.UnmarshalAttributes(p.Data)
				if err != nil {
					return 0, false, fmt.Errorf("conntrack tcp info: %w", err)
				}
				for _, f := range tcp {
					if f.Type&nlaTypeMask == ctaProtoinfoTCPState && len(f.Data) == 1 {
						established = f.Data[0] == tcpConntrackEstablished
					}
				}
			}
		}
	}
	return mark, established, nil
}
