package nftables

import (
	"encoding/binary"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// encodeCTMsg builds a ctnetlink message body with a mark and, when
// state >= 0, a TCP state.
func encodeCTMsg(mark uint32, state int) []byte {
	attrs := []netlink.Attribute{{Type: ctaMark, Data: binary.BigEndian.AppendUint32(nil, mark)}}
	if state >= 0 {
		tcp, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: ctaProtoinfoTCPState, Data: []byte{byte(state)}}})
		pi, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NLA_F_NESTED | ctaProtoinfoTCP, Data: tcp}})
		attrs = append(attrs, netlink.Attribute{Type: unix.NLA_F_NESTED | ctaProtoinfo, Data: pi})
	}
	b, _ := netlink.MarshalAttributes(attrs)
	return append(nfgenmsg(unix.AF_INET), b...)
}

func TestDecodeCTMsg(t *testing.T) {
	cases := []struct {
		mark        uint32
		state       int
		established bool
	}{
		{markOf(7), tcpConntrackEstablished, true},
		{markOf(7), 1, false},  // SYN_SENT
		{markOf(9), 7, false},  // TIME_WAIT
		{markOf(9), -1, false}, // UDP
	}
	for _, c := range cases {
		mark, est, err := decodeCTMsg(encodeCTMsg(c.mark, c.state))
		if err != nil || mark != c.mark || est != c.established {
			t.Errorf("decode(mark %#x state %d) = %#x %v %v", c.mark, c.state, mark, est, err)
		}
	}
	for _, bad := range [][]byte{nil, {2, 0, 0}, append(nfgenmsg(2), 6, 0, ctaMark, 0, 1, 2)} {
		if _, _, err := decodeCTMsg(bad); err == nil {
			t.Errorf("decodeCTMsg(%x) accepted", bad)
		}
	}
}

func TestParseDumpChunk(t *testing.T) {
	msg := func(typ uint16, seq uint32, data []byte) []byte {
		b := make([]byte, 16, 16+len(data)+3)
		binary.NativeEndian.PutUint32(b[0:], uint32(16+len(data)))
		binary.NativeEndian.PutUint16(b[4:], typ)
		binary.NativeEndian.PutUint32(b[8:], seq)
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	var out []netlink.Message
	chunk := append(append(msg(uint16(msgNewRule), 5, []byte{1, 2, 3}), msg(uint16(msgNewRule), 6, nil)...), msg(unix.NLMSG_DONE, 5, []byte{0, 0, 0, 0})...)
	done, err := parseDumpChunk(chunk, 5, &out)
	if err != nil || !done || len(out) != 1 || string(out[0].Data) != "\x01\x02\x03" {
		t.Fatalf("parseDumpChunk = %v %v %+v", done, err, out)
	}
	errno := make([]byte, 4)
	e := -int32(unix.EPERM)
	binary.NativeEndian.PutUint32(errno, uint32(e))
	if _, err := parseDumpChunk(msg(unix.NLMSG_ERROR, 5, errno), 5, &out); err != unix.EPERM {
		t.Fatalf("error message gave %v, want EPERM", err)
	}
	if _, err := parseDumpChunk([]byte{200, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 5, &out); err == nil {
		t.Fatal("oversized length accepted")
	}
}

func FuzzDecodeCTMsg(f *testing.F) {
	f.Add(encodeCTMsg(markOf(3), tcpConntrackEstablished))
	f.Add(encodeCTMsg(markOf(3), -1))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeCTMsg(b)
	})
}

func FuzzParseDumpChunk(f *testing.F) {
	f.Add([]byte{20, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint32(5))
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		var out []netlink.Message
		parseDumpChunk(b, seq, &out)
		for _, m := range out {
			if m.Header.Sequence != seq {
				t.Fatalf("kept a message of another dump")
			}
		}
	})
}
