package nftables

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
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
		mark, est, left, err := decodeCTMsg(encodeCTMsg(c.mark, c.state))
		if err != nil || mark != c.mark || est != c.established || left != -1 {
			t.Errorf("decode(mark %#x state %d) = %#x %v %v", c.mark, c.state, mark, est, err)
		}
	}
	for _, bad := range [][]byte{nil, {2, 0, 0}, append(nfgenmsg(2), 6, 0, ctaMark, 0, 1, 2)} {
		if _, _, _, err := decodeCTMsg(bad); err == nil {
			t.Errorf("decodeCTMsg(%x) accepted", bad)
		}
	}
	// The timeout attribute: seconds left before the entry expires.
	b, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: ctaTimeout, Data: binary.BigEndian.AppendUint32(nil, 431990)}})
	withTimeout := append(encodeCTMsg(markOf(7), tcpConntrackEstablished), b...)
	if _, est, left, err := decodeCTMsg(withTimeout); err != nil || !est || left != 431990 {
		t.Errorf("with timeout: est %v left %d err %v", est, left, err)
	}
	short, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: ctaTimeout, Data: []byte{1, 2}}})
	if _, _, _, err := decodeCTMsg(append(encodeCTMsg(markOf(7), -1), short...)); err == nil {
		t.Error("a 2-byte timeout was accepted")
	}
}

// An established connection counts as active only while it carries
// packets: an entry left behind by a connection that died elsewhere (its
// timeout running down from the established timeout) does not hold a
// drain for days.
func TestRecentlyUsed(t *testing.T) {
	for _, c := range []struct {
		left int64
		want bool
	}{
		{432000, true}, {431996, true}, {431995, true}, {431994, false}, {1000, false}, {-1, true},
	} {
		if got := recentlyUsed(432000, c.left); got != c.want {
			t.Errorf("recentlyUsed(432000, %d) = %v, want %v", c.left, got, c.want)
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
		_, _, _, _ = decodeCTMsg(b)
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

func encodeElemMsg(set string, elems []nftables.SetElement) []byte {
	var list []netlink.Attribute
	for _, e := range elems {
		key, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: e.Key}})
		fields := []netlink.Attribute{{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_KEY, Data: key}}
		if e.IntervalEnd {
			fields = append(fields, netlink.Attribute{Type: unix.NFTA_SET_ELEM_FLAGS, Data: binary.BigEndian.AppendUint32(nil, unix.NFT_SET_ELEM_INTERVAL_END)})
		}
		if e.VerdictData != nil {
			v, _ := netlink.MarshalAttributes([]netlink.Attribute{
				{Type: unix.NFTA_VERDICT_CODE, Data: binary.BigEndian.AppendUint32(nil, uint32(0xfffffffd))},
				{Type: unix.NFTA_VERDICT_CHAIN, Data: cstring(e.VerdictData.Chain)},
			})
			d, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NLA_F_NESTED | unix.NFTA_DATA_VERDICT, Data: v}})
			fields = append(fields, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_DATA, Data: d})
		}
		if e.Val != nil {
			d, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: e.Val}})
			fields = append(fields, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_DATA, Data: d})
		}
		if e.Comment != "" {
			fields = append(fields, netlink.Attribute{Type: unix.NFTA_SET_ELEM_USERDATA, Data: append([]byte{0, byte(len(e.Comment) + 1)}, cstring(e.Comment)...)})
		}
		b, _ := netlink.MarshalAttributes(fields)
		list = append(list, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: b})
	}
	lb, _ := netlink.MarshalAttributes(list)
	b, _ := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: cstring("quadrature")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: cstring(set)},
		{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_LIST_ELEMENTS, Data: lb},
	})
	return append(nfgenmsg(unix.NFPROTO_INET), b...)
}

func TestDecodeElemMsg(t *testing.T) {
	in := []nftables.SetElement{
		{Key: []byte{6, 0, 0, 0, 198, 51, 100, 10, 0, 80, 0, 0}, VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: "s4"}},
		{Key: []byte{17, 0, 0, 0, 198, 51, 100, 10, 0, 53, 0, 0}, VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: "s5"}},
	}
	in = append(in, nftables.SetElement{Key: native32(markOf(5)), Val: []byte{192, 0, 2, 1, 0, 80, 0, 0}, Comment: destComment(4, 3)})
	set, got, err := decodeElemMsg(encodeElemMsg("m4", in))
	sortElems(got)
	if err != nil || set != "m4" || !slices.Equal(got, elemsOf(in)) {
		t.Fatalf("decode = %q %v %v, want %v", set, got, err, elemsOf(in))
	}
}

func FuzzDecodeElemMsg(f *testing.F) {
	f.Add(encodeElemMsg("svc4", []nftables.SetElement{{Key: []byte{6, 0, 0, 0, 198, 51, 100, 10, 0, 80, 0, 0}, VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: "s4"}}}))
	f.Add(encodeElemMsg("dst4", []nftables.SetElement{{Key: native32(markOf(5)), Val: []byte{192, 0, 2, 1, 0, 80, 0, 0}, Comment: destComment(4, 3)}}))
	f.Add(encodeElemMsg("stats_in", []nftables.SetElement{{Key: native32(markOf(5))}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeElemMsg(b)
		decodeSetMsg(b)
	})
}

func TestDecodeElemCounter(t *testing.T) {
	cdata, _ := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_COUNTER_BYTES, Data: binary.BigEndian.AppendUint64(nil, 600)},
		{Type: unix.NFTA_COUNTER_PACKETS, Data: binary.BigEndian.AppendUint64(nil, 7)},
	})
	expr, _ := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_EXPR_NAME, Data: cstring("counter")},
		{Type: unix.NLA_F_NESTED | unix.NFTA_EXPR_DATA, Data: cdata},
	})
	key, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: native32(markOf(5))}})
	for _, form := range []netlink.Attribute{
		{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_EXPR, Data: expr},
		{Type: unix.NLA_F_NESTED | nftaSetElemExpressions, Data: func() []byte {
			b, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: expr}})
			return b
		}()},
	} {
		b, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_KEY, Data: key}, form})
		e, err := decodeElem(b)
		if err != nil || e.Packets != 7 || e.Bytes != 600 || e.Key != string(native32(markOf(5))) {
			t.Errorf("decodeElem = %+v %v", e, err)
		}
		if id, ok := decodeMark(e.Key); !ok || id != 5 {
			t.Errorf("decodeMark = %d %v", id, ok)
		}
	}
}

// elemsOf converts the elements this backend writes into their dumped
// form, sorted, for comparison.
func elemsOf(in []nftables.SetElement) []setElem {
	out := make([]setElem, 0, len(in))
	for _, e := range in {
		se := setElem{Key: string(e.Key), End: e.IntervalEnd, Value: string(e.Val), Comment: e.Comment}
		if e.VerdictData != nil {
			se.Chain = e.VerdictData.Chain
		}
		out = append(out, se)
	}
	sortElems(out)
	return out
}

func FuzzDecodeGenMsg(f *testing.F) {
	b, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_GEN_ID, Data: binary.BigEndian.AppendUint32(nil, 42)}})
	f.Add(append(nfgenmsg(unix.AF_UNSPEC), b...))
	f.Add([]byte{0, 0, 0, 0, 5, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeGenMsg(b)
	})
}

func TestDecodeGenMsg(t *testing.T) {
	b, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_GEN_ID, Data: binary.BigEndian.AppendUint32(nil, 42)}})
	if g, err := decodeGenMsg(append(nfgenmsg(unix.AF_UNSPEC), b...)); g != 42 || err != nil {
		t.Fatalf("decodeGenMsg = %d %v", g, err)
	}
	for _, bad := range [][]byte{nil, nfgenmsg(0), append(nfgenmsg(0), 6, 0, 1, 0, 1, 2)} {
		if _, err := decodeGenMsg(bad); err == nil {
			t.Errorf("decodeGenMsg(%x) accepted", bad)
		}
	}
}

func FuzzParseDestComment(f *testing.F) {
	f.Add(destComment(3, 7))
	f.Add("q2 s=1 w=0")
	f.Add("q2 w=1 s=2")
	f.Fuzz(func(t *testing.T, s string) {
		svc, w, err := parseDestComment(s)
		if err != nil {
			return
		}
		if s2, w2, err := parseDestComment(destComment(svc, w)); err != nil || s2 != svc || w2 != w {
			t.Fatalf("unstable: %q → %d %d → %v", s, svc, w, err)
		}
	})
}

// FuzzDecodeElements feeds arbitrary elements (key, value, comment) to the
// model's sets of an otherwise consistent dump: decoding must not panic,
// and every service it reports must be one the backend supports.
func FuzzDecodeElements(f *testing.F) {
	d := synthDump(sampleTable(), true)
	for _, set := range fixedSets {
		for _, e := range d.Elements[set] {
			f.Add(uint8(slices.Index(fixedSets, set)), []byte(e.Key), []byte(e.Value), e.Comment, e.Chain)
		}
	}
	f.Fuzz(func(t *testing.T, set uint8, key, value []byte, comment, chain string) {
		d := synthDump(sampleTable(), true)
		name := fixedSets[int(set)%len(fixedSets)]
		d.Elements[name] = append(slices.Clone(d.Elements[name]), setElem{Key: string(key), Value: string(value), Comment: comment, Chain: chain})
		st := decodeState(d, true)
		for _, s := range st.Table().Services {
			if err := CheckService(s); err != nil {
				t.Fatalf("decoded an unsupported service: %v", err)
			}
		}
		st.statsOf(nil)
	})
}

func TestHasDuplicateKey(t *testing.T) {
	if hasDuplicateKey([]setElem{{Key: "a"}, {Key: "b"}, {Key: "b", End: true}}) {
		t.Error("an interval end counted as a duplicate")
	}
	if !hasDuplicateKey([]setElem{{Key: "a"}, {Key: "b"}, {Key: "b"}}) {
		t.Error("a repeated key not noticed")
	}
}
