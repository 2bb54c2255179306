package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Connection gauges come from conntrack: one ctnetlink dump of the
// connections whose mark carries ctMarkFlag (filtered in the kernel), each
// counted for the destination in the low mark bits. A TCP connection in
// ESTABLISHED state that carried a packet within the last activeIdle is
// active; every other connection (TCP handshakes and closes, idle
// established ones, UDP flows) is inactive. The reconciler's graceful
// drain waits for a destination's active count to reach zero.
//
// Why idle established connections do not count: an entry stays
// ESTABLISHED for nf_conntrack_tcp_timeout_established (5 days by
// default) after its last packet, also when the connection died without
// a FIN or RST crossing this node — the client was reset by the new
// owner after a VIP move, for one — and a drain would then wait for its
// whole timeout. Deleting a destination never cuts a connection that is
// still used: its NAT binding lives in conntrack, not in the rules.

// activeIdle is how recently an established connection must have carried
// a packet to count as active.
const activeIdle = 5 * time.Second

// establishedTimeout reads nf_conntrack_tcp_timeout_established (the
// timeout conntrack restarts at every packet of an established
// connection); 5 days when unreadable.
func establishedTimeout() uint32 {
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established")
	if err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil && v > 0 {
			return uint32(v)
		}
	}
	return 432000
}

// ctnetlink constants (linux/netfilter/nfnetlink_conntrack.h).
const (
	ipctnlMsgCtGet          = 1
	ctaProtoinfo            = 4
	ctaTimeout              = 7
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
	estTimeout := establishedTimeout()
	for _, m := range msgs {
		mark, established, left, err := decodeCTMsg(m.Data)
		if err != nil {
			return nil, fmt.Errorf("dump conntrack: %w", err)
		}
		if mark&ctMarkFlag == 0 {
			continue
		}
		g := out[mark&^ctMarkFlag]
		if established && recentlyUsed(estTimeout, left) {
			g.Active++
		} else {
			g.Inactive++
		}
		out[mark&^ctMarkFlag] = g
	}
	return out, nil
}

// recentlyUsed reports whether an established connection whose entry
// has left seconds before it expires carried a packet within activeIdle
// (no timeout attribute: assume it did).
func recentlyUsed(estTimeout uint32, left int64) bool {
	if left < 0 {
		return true
	}
	idle := int64(estTimeout) - left
	return idle <= int64(activeIdle/time.Second)
}

// decodeCTMsg extracts the mark, whether the connection is an established
// TCP connection and the seconds left before the entry expires (-1 when
// absent) from a ctnetlink message.
func decodeCTMsg(b []byte) (mark uint32, established bool, left int64, err error) {
	left = -1
	if len(b) < 4 {
		return 0, false, 0, errShort
	}
	attrs, err := netlink.UnmarshalAttributes(b[4:])
	if err != nil {
		return 0, false, 0, fmt.Errorf("conntrack attributes: %w", err)
	}
	for _, a := range attrs {
		switch a.Type & nlaTypeMask {
		case ctaMark:
			if len(a.Data) != 4 {
				return 0, false, 0, errors.New("conntrack mark of wrong size")
			}
			mark = binary.BigEndian.Uint32(a.Data)
		case ctaTimeout:
			if len(a.Data) != 4 {
				return 0, false, 0, errors.New("conntrack timeout of wrong size")
			}
			left = int64(binary.BigEndian.Uint32(a.Data))
		case ctaProtoinfo:
			pi, err := netlink.UnmarshalAttributes(a.Data)
			if err != nil {
				return 0, false, 0, fmt.Errorf("conntrack protoinfo: %w", err)
			}
			for _, p := range pi {
				if p.Type&nlaTypeMask != ctaProtoinfoTCP {
					continue
				}
				tcp, err := netlink.UnmarshalAttributes(p.Data)
				if err != nil {
					return 0, false, 0, fmt.Errorf("conntrack tcp info: %w", err)
				}
				for _, f := range tcp {
					if f.Type&nlaTypeMask == ctaProtoinfoTCPState && len(f.Data) == 1 {
						established = f.Data[0] == tcpConntrackEstablished
					}
				}
			}
		}
	}
	return mark, established, left, nil
}
