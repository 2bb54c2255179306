package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The read side talks nf_tables netlink directly: one dump of the table's
// chains and one dump of all its rules (the library only dumps one chain
// at a time). Only the attributes the model needs are decoded.

const (
	msgGetChain = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETCHAIN)
	msgNewChain = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWCHAIN)
	msgGetRule  = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE)
	msgNewRule  = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWRULE)
	nlaTypeMask = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
)

// nfgenmsg is the 4-byte header of every nf_tables message: family,
// version, resource id.
func nfgenmsg(family uint8) []byte { return []byte{family, unix.NFNETLINK_V0, 0, 0} }

// readDump dumps the chains, rules and sets of table (family inet) over
// c; persist adds the elements of the persistence maps.
func readDump(c *netlink.Conn, table string, persist bool) (dump, error) {
	var d dump
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_CHAIN_TABLE, Data: cstring(table)}})
	if err != nil {
		return d, err
	}
	msgs, err := execDump(c, netlink.Message{
		Header: netlink.Header{Type: msgGetChain, Flags: netlink.Request | netlink.Dump},
		Data:   append(nfgenmsg(unix.NFPROTO_INET), attrs...),
	})
	if err != nil {
		return d, fmt.Errorf("dump chains: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != msgNewChain {
			continue
		}
		t, name, err := decodeChainMsg(m.Data)
		if err != nil {
			return d, fmt.Errorf("dump chains: %w", err)
		}
		if t == table {
			d.Chains = append(d.Chains, name)
		}
	}
	d.TableExists = len(d.Chains) > 0
	if !d.TableExists {
		return d, nil
	}
	attrs, err = netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_RULE_TABLE, Data: cstring(table)}})
	if err != nil {
		return d, err
	}
	msgs, err = execDump(c, netlink.Message{
		Header: netlink.Header{Type: msgGetRule, Flags: netlink.Request | netlink.Dump},
		Data:   append(nfgenmsg(unix.NFPROTO_INET), attrs...),
	})
	if err != nil {
		return d, fmt.Errorf("dump rules: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != msgNewRule {
			continue
		}
		t, ri, err := decodeRuleMsg(m.Data)
		if err != nil {
			return d, fmt.Errorf("dump rules: %w", err)
		}
		if t == table {
			d.Rules = append(d.Rules, ri)
		}
	}
	if err := readSets(c, table, &d, persist); err != nil {
		return d, err
	}
	return d, nil
}

// dumpBuffer is the receive buffer of a dump. The kernel sizes each dump
// message batch after the reader's buffer (up to 32 KiB), and resuming a
// rule dump walks every rule already sent, so a page-sized buffer (what
// the netlink package uses) makes reading a large table quadratic.
const dumpBuffer = 1 << 20

var dumpBuffers = sync.Pool{New: func() any { b := make([]byte, dumpBuffer); return &b }}

// execDump sends a dump request and collects the replies until
// NLMSG_DONE, reading with a large buffer.
func execDump(c *netlink.Conn, req netlink.Message) ([]netlink.Message, error) {
	var out []netlink.Message
	err := execEach(c, req, func(typ netlink.HeaderType, data []byte) {
		out = append(out, netlink.Message{Header: netlink.Header{Type: typ}, Data: append([]byte(nil), data...)})
	})
	return out, err
}

// execEach sends a request and hands each reply to f (its data is only
// valid during the call) until NLMSG_DONE or the acknowledgement.
func execEach(c *netlink.Conn, req netlink.Message, f func(netlink.HeaderType, []byte)) error {
	sent, err := c.Send(req)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	bp := dumpBuffers.Get().(*[]byte)
	defer dumpBuffers.Put(bp)
	buf := *bp
	for {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN && rerr != unix.EINTR
		}); err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if rerr != nil {
			return fmt.Errorf("receive: %w", rerr)
		}
		done, err := eachInChunk(buf[:n], sent.Header.Sequence, f)
		if err != nil || done {
			return err
		}
	}
}

// parseDumpChunk appends the messages of one read that belong to the dump
// with sequence seq; done reports NLMSG_DONE.
func parseDumpChunk(b []byte, seq uint32, out *[]netlink.Message) (done bool, err error) {
	return eachInChunk(b, seq, func(typ netlink.HeaderType, data []byte) {
		*out = append(*out, netlink.Message{Header: netlink.Header{Type: typ, Sequence: seq}, Data: append([]byte(nil), data...)})
	})
}

// eachInChunk hands the messages of one read that belong to the request
// with sequence seq to f; done reports NLMSG_DONE or the final
// acknowledgement.
func eachInChunk(b []byte, seq uint32, f func(netlink.HeaderType, []byte)) (done bool, err error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false, fmt.Errorf("malformed netlink message (length %d of %d)", l, len(b))
		}
		typ := binary.NativeEndian.Uint16(b[4:6])
		mseq := binary.NativeEndian.Uint32(b[8:12])
		data := b[unix.NLMSG_HDRLEN:l]
		if a := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1); a <= len(b) {
			b = b[a:]
		} else {
			b = nil
		}
		if mseq != seq {
			continue
		}
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(data) < 4 {
				return false, errors.New("short netlink error message")
			}
			if errno := int32(binary.NativeEndian.Uint32(data[:4])); errno != 0 {
				return false, syscall.Errno(-errno)
			}
			return true, nil
		}
		f(netlink.HeaderType(typ), data)
	}
	return false, nil
}

const (
	msgGetGen = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN)
	msgNewGen = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWGEN)
)

// getGen returns the ruleset generation: it changes with every committed
// transaction in the namespace, whatever table it touched.
func getGen(c *netlink.Conn) (uint32, error) {
	var gen uint32
	var derr error
	err := execEach(c, netlink.Message{
		Header: netlink.Header{Type: msgGetGen, Flags: netlink.Request | netlink.Acknowledge},
		Data:   nfgenmsg(unix.AF_UNSPEC),
	}, func(typ netlink.HeaderType, data []byte) {
		if typ == msgNewGen {
			gen, derr = decodeGenMsg(data)
		}
	})
	if err == nil {
		err = derr
	}
	if err == nil && gen == 0 {
		err = errors.New("no generation in the kernel's answer")
	}
	return gen, err
}

// decodeGenMsg extracts NFTA_GEN_ID from a NEWGEN message.
func decodeGenMsg(b []byte) (uint32, error) {
	if len(b) < 4 {
		return 0, errShort
	}
	attrs, err := netlink.UnmarshalAttributes(b[4:])
	if err != nil {
		return 0, fmt.Errorf("generation attributes: %w", err)
	}
	for _, a := range attrs {
		if a.Type&nlaTypeMask == unix.NFTA_GEN_ID {
			if len(a.Data) != 4 {
				return 0, errors.New("generation of wrong size")
			}
			return binary.BigEndian.Uint32(a.Data), nil
		}
	}
	return 0, errors.New("no generation attribute")
}

func cstring(s string) []byte { return append([]byte(s), 0) }

func trimNUL(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

var errShort = errors.New("message shorter than nfgenmsg")

// decodeChainMsg extracts table and chain name from a NEWCHAIN message.
func decodeChainMsg(b []byte) (table, name string, err error) {
	if len(b) < 4 {
		return "", "", errShort
	}
	attrs, err := netlink.UnmarshalAttributes(b[4:])
	if err != nil {
		return "", "", fmt.Errorf("chain attributes: %w", err)
	}
	for _, a := range attrs {
		switch a.Type & nlaTypeMask {
		case unix.NFTA_CHAIN_TABLE:
			table = trimNUL(a.Data)
		case unix.NFTA_CHAIN_NAME:
			name = trimNUL(a.Data)
		}
	}
	if name == "" {
		return "", "", errors.New("chain without name")
	}
	return table, name, nil
}

// decodeRuleMsg extracts table, chain, handle, comment and the first
// counter expression from a NEWRULE message.
func decodeRuleMsg(b []byte) (table string, ri ruleInfo, err error) {
	if len(b) < 4 {
		return "", ri, errShort
	}
	attrs, err := netlink.UnmarshalAttributes(b[4:])
	if err != nil {
		return "", ri, fmt.Errorf("rule attributes: %w", err)
	}
	for _, a := range attrs {
		switch a.Type & nlaTypeMask {
		case unix.NFTA_RULE_TABLE:
			table = trimNUL(a.Data)
		case unix.NFTA_RULE_CHAIN:
			ri.Chain = trimNUL(a.Data)
		case unix.NFTA_RULE_HANDLE:
			if len(a.Data) != 8 {
				return "", ri, fmt.Errorf("rule handle of %d bytes", len(a.Data))
			}
			ri.Handle = binary.BigEndian.Uint64(a.Data)
		case unix.NFTA_RULE_USERDATA:
			ri.Comment = ruleComment(a.Data)
		case unix.NFTA_RULE_EXPRESSIONS:
			if err := decodeCounter(a.Data, &ri); err != nil {
				return "", ri, err
			}
		}
	}
	if ri.Chain == "" {
		return "", ri, errors.New("rule without chain")
	}
	return table, ri, nil
}

// decodeCounter finds the first "counter" expression of a rule.
func decodeCounter(b []byte, ri *ruleInfo) error {
	elems, err := netlink.UnmarshalAttributes(b)
	if err != nil {
		return fmt.Errorf("rule expressions: %w", err)
	}
	for _, e := range elems {
		if e.Type&nlaTypeMask != unix.NFTA_LIST_ELEM {
			continue
		}
		fields, err := netlink.UnmarshalAttributes(e.Data)
		if err != nil {
			return fmt.Errorf("rule expression: %w", err)
		}
		var name string
		var data []byte
		for _, f := range fields {
			switch f.Type & nlaTypeMask {
			case unix.NFTA_EXPR_NAME:
				name = trimNUL(f.Data)
			case unix.NFTA_EXPR_DATA:
				data = f.Data
			}
		}
		if name != "counter" || ri.HasCounter {
			continue
		}
		cattrs, err := netlink.UnmarshalAttributes(data)
		if err != nil {
			return fmt.Errorf("counter expression: %w", err)
		}
		for _, c := range cattrs {
			if len(c.Data) != 8 {
				return fmt.Errorf("counter attribute of %d bytes", len(c.Data))
			}
			switch c.Type & nlaTypeMask {
			case unix.NFTA_COUNTER_BYTES:
				ri.Bytes = binary.BigEndian.Uint64(c.Data)
			case unix.NFTA_COUNTER_PACKETS:
				ri.Packets = binary.BigEndian.Uint64(c.Data)
			}
		}
		ri.HasCounter = true
	}
	return nil
}

// ruleComment returns the comment of rule userdata: a sequence of TLVs
// (type byte, length byte, value) in which the comment (type 0) is a
// NUL-terminated string. Malformed userdata yields "". (The library's
// userdata.Get panics on a truncated TLV; rule userdata comes from the
// kernel, but anyone with CAP_NET_ADMIN may have written it.)
func ruleComment(b []byte) string {
	for len(b) >= 2 {
		typ, n := b[0], int(b[1])
		if len(b) < 2+n {
			return ""
		}
		if typ == udataComment {
			return trimNUL(b[2 : 2+n])
		}
		b = b[2+n:]
	}
	return ""
}

// udataComment is NFTNL_UDATA_RULE_COMMENT.
const udataComment = 0
