package nftables

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"quadrature/lvs"
)

// synthDump lays out t the way Apply does (render: same records, same
// elements) as a kernel dump would return it: services get IDs in table
// order (first service 1, its destinations 2, 3, ...), and each
// destination's counters derive from its ID (new connections = ID,
// packets in 3×ID, out 2×ID, 60 bytes a packet).
func synthDump(t lvs.Table, masq bool) dump {
	ids := &idAlloc{used: map[uint32]bool{}, limit: maxServiceID} // one counter for both: IDs as documented above
	o := render(decodeState(dump{}, masq), t.Normalize().Services, ids, ids)
	return objectsDump(o, masq)
}

func objectsDump(o *objects, masq bool) dump {
	d := dump{TableExists: true, Sets: append([]string(nil), fixedSets...), Elements: map[string][]setElem{}}
	infra := infraRules(masq)
	for _, c := range []string{chainPrerouting, chainOutput, chainPostrouting, chainStatsPre, chainStatsOut, chainServices, chainPick, chainNat4, chainNat6} {
		d.Chains = append(d.Chains, c)
		for _, name := range infra[c] {
			d.Rules = append(d.Rules, ruleInfo{Chain: c, Comment: record{Kind: kindInfra, Infra: name}.String()})
		}
	}
	for _, id := range sortedKeys(o.Chains) {
		c := svcChainName(id)
		d.Chains = append(d.Chains, c)
		for _, r := range o.Chains[id] {
			d.Rules = append(d.Rules, ruleInfo{Chain: c, Handle: uint64(len(d.Rules) + 1), Comment: r.String()})
		}
	}
	for _, name := range sortedKeys(o.PSets) {
		d.Sets = append(d.Sets, name)
	}
	for k, id := range o.Dispatch {
		set, e := dispatchElem(k, id)
		d.Elements[set] = append(d.Elements[set], setElem{Key: string(e.key), Chain: e.chain})
	}
	for k, id := range o.Slots {
		e := slotElem(k, id)
		d.Elements[setSlots] = append(d.Elements[setSlots], setElem{Key: string(e.key), Value: string(e.data)})
	}
	for id, dst := range o.Dests {
		e := destElem(id, dst)
		m := dstMaps[dst.Map]
		d.Elements[m] = append(d.Elements[m], setElem{Key: string(e.key), Value: string(e.data), Comment: e.comment})
	}
	for id, bits := range o.Stats {
		k := string(native32(markOf(id)))
		n := uint64(id)
		for i, name := range statSets {
			if bits&(1<<i) == 0 {
				continue
			}
			pk := [...]uint64{3 * n, 2 * n, n}[i]
			d.Elements[name] = append(d.Elements[name], setElem{Key: k, Packets: pk, Bytes: 60 * pk})
		}
	}
	for _, es := range d.Elements {
		sortElems(es)
	}
	return d
}

func sampleTable() lvs.Table {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	return lvs.Table{Services: []lvs.Service{
		{Key: lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP, Addr: a("198.51.100.10"), Port: 80}, Scheduler: "wrr",
			Destinations: []lvs.Destination{{Addr: a("192.0.2.11"), Port: 8080, Weight: 1}, {Addr: a("192.0.2.12"), Port: 8080, Weight: 0}, {Addr: a("192.0.2.13"), Port: 8080, Weight: 3}}},
		{Key: lvs.ServiceKey{Family: lvs.IPv6, Protocol: lvs.UDP, Addr: a("2001:db8::10"), Port: 53}, Scheduler: "sh", Persistence: 300 * time.Second, Netmask: 64,
			Destinations: []lvs.Destination{{Addr: a("2001:db8::11"), Port: 53, Weight: 2}}},
		{Key: lvs.ServiceKey{Family: lvs.IPv4, FWMark: 7}, Scheduler: "rr",
			Destinations: []lvs.Destination{{Addr: a("192.0.2.11"), Weight: 1}, {Addr: a("192.0.2.12"), Weight: 5}}},
		{Key: lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP, Addr: a("198.51.100.10"), Port: 443}, Scheduler: "dh"},
	}}
}

func TestDecodeStateRoundTrip(t *testing.T) {
	for _, masq := range []bool{true, false} {
		want := sampleTable()
		st := decodeState(synthDump(want, masq), masq)
		if got := st.Table(); got.Digest() != want.Digest() {
			t.Fatalf("masq=%v: decoded\n%s\nwant\n%s", masq, got.CanonicalText(), want.CanonicalText())
		}
		if st.Malformed != 0 || !st.Infra {
			t.Fatalf("malformed=%d infra=%v", st.Malformed, st.Infra)
		}
	}
}

// TestDecodeStateNoticesEveryMissingRule removes each rule in turn: the
// read-back must differ from the programmed table, so the reconciler sees
// (and repairs) any single deleted rule.
func TestDecodeStateNoticesEveryMissingRule(t *testing.T) {
	want := sampleTable()
	full := synthDump(want, true)
	for i, r := range full.Rules {
		d := full
		d.Rules = append(append([]ruleInfo(nil), full.Rules[:i]...), full.Rules[i+1:]...)
		if got := decodeState(d, true).Table(); got.Digest() == want.Digest() {
			t.Errorf("removing rule %q from %s went unnoticed", r.Comment, r.Chain)
		}
	}
}

func TestDecodeStateRejectsInconsistency(t *testing.T) {
	want := sampleTable()
	cases := []struct {
		name   string
		mutate func(*dump)
	}{
		{"scheduler slot count changed", func(d *dump) { replaceComment(d, "q2 sched id=1 n=4", "q2 sched id=1 n=5") }},
		{"record in the wrong chain", func(d *dump) { moveRule(d, "q2 cnt id=1", "s6") }},
		{"duplicate service header", func(d *dump) { dupRule(d, "q2 svc id=1 ") }},
		{"duplicate count rule", func(d *dump) { dupRule(d, "q2 cnt id=1") }},
		{"masquerade expected but absent", func(d *dump) { dropRule(d, "q2 infra r=masq") }},
		{"table missing", func(d *dump) { d.TableExists = false }},
		{"counter set missing", func(d *dump) {
			d.Sets = slices.DeleteFunc(slices.Clone(d.Sets), func(s string) bool { return s == statsIn })
		}},
		{"persistence map missing", func(d *dump) {
			d.Sets = slices.DeleteFunc(slices.Clone(d.Sets), func(s string) bool { return strings.HasPrefix(s, "p6_") })
		}},
		{"weight changed", func(d *dump) {
			editElems(d, setDst4, func(e *setElem) { e.Comment = strings.Replace(e.Comment, " w=1", " w=2", 1) })
		}},
		{"slot points elsewhere", func(d *dump) { editElems(d, setSlots, func(e *setElem) { e.Value = string(native32(markOf(99))) }) }},
		{"dispatch jumps elsewhere", func(d *dump) { editElems(d, setSvc4, func(e *setElem) { e.Chain = "s99" }) }},
		{"destination moved to another service", func(d *dump) {
			editElems(d, setDst4, func(e *setElem) { e.Comment = strings.Replace(e.Comment, "s=1 ", "s=5 ", 1) })
		}},
	}
	for _, c := range cases {
		d := synthDump(want, true)
		d.Rules = append([]ruleInfo(nil), d.Rules...)
		c.mutate(&d)
		if got := decodeState(d, true).Table(); got.Digest() == want.Digest() {
			t.Errorf("%s: not noticed", c.name)
		}
	}
	// An unexpected masquerade rule (masquerade off) is drift too.
	if st := decodeState(synthDump(want, true), false); st.Infra {
		t.Error("masquerade rule present while off: infra reported intact")
	}
}

// TestDecodeStateNoticesEveryMissingElement removes each element of the
// model's sets in turn: the read-back must differ.
func TestDecodeStateNoticesEveryMissingElement(t *testing.T) {
	want := sampleTable()
	full := synthDump(want, true)
	for set, es := range full.Elements {
		for i := range es {
			d := full
			d.Elements = maps.Clone(full.Elements)
			d.Elements[set] = slices.Delete(slices.Clone(es), i, i+1)
			if got := decodeState(d, true).Table(); got.Digest() == want.Digest() {
				t.Errorf("removing element %d of %s went unnoticed", i, set)
			}
		}
	}
}

// editElems changes the first element of set.
func editElems(d *dump, set string, f func(*setElem)) {
	d.Elements = maps.Clone(d.Elements)
	es := slices.Clone(d.Elements[set])
	f(&es[0])
	d.Elements[set] = es
}

func findRule(d *dump, prefix string) int {
	for i, r := range d.Rules {
		if strings.HasPrefix(r.Comment, prefix) {
			return i
		}
	}
	panic("no rule " + prefix)
}

func replaceComment(d *dump, old, repl string) { d.Rules[findRule(d, old)].Comment = repl }
func moveRule(d *dump, prefix, chain string)   { d.Rules[findRule(d, prefix)].Chain = chain }
func dupRule(d *dump, prefix string)           { d.Rules = append(d.Rules, d.Rules[findRule(d, prefix)]) }
func dropRule(d *dump, prefix string) {
	i := findRule(d, prefix)
	d.Rules = append(d.Rules[:i], d.Rules[i+1:]...)
}

func TestStatsFromState(t *testing.T) {
	want := sampleTable()
	st := decodeState(synthDump(want, true), true)
	stats := st.statsOf(nil)
	s := want.Normalize().Services[0] // TCP :80, IDs 1 and 2..4
	ss := stats[s.Key]
	var conns uint64
	for j, d := range s.Destinations {
		id := uint64(2 + j)
		got := ss.Destinations[d.Key()]
		if got.Connections != id || got.PacketsIn != 3*id || got.PacketsOut != 2*id || got.BytesIn != 180*id || got.BytesOut != 120*id {
			t.Errorf("%s: %+v", d.Key(), got.Counters)
		}
		conns += id
	}
	if ss.Connections != conns {
		t.Errorf("service connections %d, want %d", ss.Connections, conns)
	}
	if len(stats) != len(want.Services) {
		t.Errorf("stats for %d services, want %d", len(stats), len(want.Services))
	}
	// Persistence entries count for the destination they point at.
	d := synthDump(want, true)
	p6 := want.Normalize().Services[2] // ID 6, its destination 7
	name := persistSetName(headerOf(6, p6))
	mark := string(native32(markOf(7)))
	d.Elements[name] = []setElem{{Key: "a", Value: mark}, {Key: "b", Value: mark}}
	d.Elements["p6x_300_64_6"] = []setElem{{Key: "c", Value: mark}}
	if got := decodeState(d, true).statsOf(nil)[p6.Key].Destinations[p6.Destinations[0].Key()].PersistConns; got != 2 {
		t.Errorf("PersistConns = %d, want 2", got)
	}
}

// randomTable draws a table of supported services: TCP and UDP, IPv4 and
// IPv6, some fwmark services, all schedulers, some persistent, weights
// 0..3.
func randomTable(r *rand.Rand) lvs.Table {
	var t lvs.Table
	scheds := []string{"rr", "wrr", "sh", "dh"}
	for i := 0; i < r.IntN(6); i++ {
		v6 := r.IntN(3) == 0
		var k lvs.ServiceKey
		switch {
		case r.IntN(5) == 0:
			k = lvs.ServiceKey{Family: lvs.IPv4, FWMark: uint32(1 + r.IntN(3))}
			if v6 {
				k.Family = lvs.IPv6
			}
		case v6:
			k = lvs.ServiceKey{Family: lvs.IPv6, Protocol: lvs.TCP, Addr: netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%d", 1+r.IntN(3))), Port: uint16(80 + r.IntN(3))}
		default:
			k = lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP, Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(r.IntN(3))}), Port: uint16(80 + r.IntN(3))}
		}
		if !k.IsFWMark() && r.IntN(3) == 0 {
			k.Protocol = lvs.UDP
		}
		s := lvs.Service{Key: k, Scheduler: scheds[r.IntN(4)]}
		if r.IntN(3) == 0 {
			s.Persistence = time.Duration(1+r.IntN(600)) * time.Second
			if r.IntN(2) == 0 {
				s.Netmask = 16 + r.IntN(16)
			}
		}
		for j := 0; j < r.IntN(5); j++ {
			a := netip.AddrFrom4([4]byte{192, 0, 2, byte(r.IntN(6))})
			if k.Family == lvs.IPv6 {
				a = netip.MustParseAddr(fmt.Sprintf("2001:db8:2::%d", r.IntN(6)))
			}
			s.Destinations = append(s.Destinations, lvs.Destination{Addr: a, Port: uint16(8080 + r.IntN(2)), Weight: int32(r.IntN(4))})
		}
		t.Services = append(t.Services, s)
	}
	// Drop duplicate keys the draw may produce.
	var out lvs.Table
	seen := map[lvs.ServiceKey]bool{}
	for _, s := range t.Normalize().Services {
		if seen[s.Key] {
			continue
		}
		seen[s.Key] = true
		dseen := map[lvs.DestKey]bool{}
		var ds []lvs.Destination
		for _, d := range s.Destinations {
			if !dseen[d.Key()] {
				dseen[d.Key()] = true
				ds = append(ds, d)
			}
		}
		s.Destinations = ds
		out.Services = append(out.Services, s)
	}
	return out.Normalize()
}

// TestApplyPlanMatchesDiff: applying lvs.Diff(a, b) to a gives b, and the
// synthetic kernel layout of b decodes back to b.
func TestApplyPlanMatchesDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		a, b := randomTable(r), randomTable(r)
		p := lvs.Diff(a, b, lvs.Options{OwnWholeTable: true})
		if got := applyPlan(a, p); got.Digest() != b.Digest() {
			t.Fatalf("applyPlan(a, Diff(a,b)) != b\na:\n%s\nb:\n%s\ngot:\n%s", a.CanonicalText(), b.CanonicalText(), got.CanonicalText())
		}
		if got := decodeState(synthDump(b, true), true).Table(); got.Digest() != b.Digest() {
			t.Fatalf("round trip of\n%s\ngave\n%s", b.CanonicalText(), got.CanonicalText())
		}
		for _, s := range b.Services {
			if err := CheckService(s); err != nil {
				t.Fatalf("generated unsupported service: %v", err)
			}
		}
	}
}

// encodeRuleMsg builds a NEWRULE message body like the kernel's dump.
func encodeRuleMsg(table string, ri ruleInfo) []byte {
	var exprs []netlink.Attribute
	if ri.HasCounter {
		cdata, _ := netlink.MarshalAttributes([]netlink.Attribute{
			{Type: unix.NFTA_COUNTER_BYTES, Data: binary.BigEndian.AppendUint64(nil, ri.Bytes)},
			{Type: unix.NFTA_COUNTER_PACKETS, Data: binary.BigEndian.AppendUint64(nil, ri.Packets)},
		})
		elem, _ := netlink.MarshalAttributes([]netlink.Attribute{
			{Type: unix.NFTA_EXPR_NAME, Data: cstring("counter")},
			{Type: unix.NLA_F_NESTED | unix.NFTA_EXPR_DATA, Data: cdata},
		})
		exprs = append(exprs, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: elem})
	}
	attrs := []netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: cstring(table)},
		{Type: unix.NFTA_RULE_CHAIN, Data: cstring(ri.Chain)},
		{Type: unix.NFTA_RULE_HANDLE, Data: binary.BigEndian.AppendUint64(nil, ri.Handle)},
	}
	if len(exprs) > 0 {
		b, _ := netlink.MarshalAttributes(exprs)
		attrs = append(attrs, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_RULE_EXPRESSIONS, Data: b})
	}
	if ri.Comment != "" {
		attrs = append(attrs, netlink.Attribute{Type: unix.NFTA_RULE_USERDATA, Data: userdata.AppendString(nil, userdata.TypeComment, ri.Comment)})
	}
	b, _ := netlink.MarshalAttributes(attrs)
	return append(nfgenmsg(unix.NFPROTO_INET), b...)
}

func TestDecodeRuleMsg(t *testing.T) {
	for _, ri := range synthDump(sampleTable(), true).Rules {
		table, got, err := decodeRuleMsg(encodeRuleMsg("quadrature", ri))
		if err != nil || table != "quadrature" || got != ri {
			t.Fatalf("decode(encode(%+v)) = %q %+v %v", ri, table, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {1, 0}, {1, 0, 0, 0, 4, 0}, append(nfgenmsg(1), 8, 0, 3, 0, 1, 2, 3, 4)} {
		if _, _, err := decodeRuleMsg(bad); err == nil {
			t.Errorf("decodeRuleMsg(%x) accepted", bad)
		}
	}
}

func FuzzDecodeRuleMsg(f *testing.F) {
	for _, ri := range synthDump(sampleTable(), true).Rules[:16] {
		f.Add(encodeRuleMsg("quadrature", ri))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		table, ri, err := decodeRuleMsg(b)
		if err != nil {
			return
		}
		if ri.Chain == "" {
			t.Fatal("accepted a rule without chain")
		}
		// A decoded message re-encodes to one that decodes the same
		// (comments that are not NUL-free strings cannot round-trip).
		if strings.ContainsRune(ri.Comment, 0) || strings.ContainsRune(table, 0) || strings.ContainsRune(ri.Chain, 0) {
			return
		}
		t2, ri2, err := decodeRuleMsg(encodeRuleMsg(table, ri))
		if err != nil || t2 != table || ri2 != ri {
			t.Fatalf("unstable: %q %+v → %q %+v %v", table, ri, t2, ri2, err)
		}
	})
}

func FuzzDecodeChainMsg(f *testing.F) {
	b, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_CHAIN_TABLE, Data: cstring("quadrature")}, {Type: unix.NFTA_CHAIN_NAME, Data: cstring("s1d2")}})
	f.Add(append(nfgenmsg(unix.NFPROTO_INET), b...))
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, name, err := decodeChainMsg(b)
		if err == nil && name == "" {
			t.Fatal("accepted a chain without name")
		}
	})
}

// FuzzDecodeState feeds arbitrary rule comments (one per line, "chain:
// comment") to the read-back decoder: it must not panic, and every service
// it reports must be one the backend supports.
func FuzzDecodeState(f *testing.F) {
	var seed strings.Builder
	for _, r := range synthDump(sampleTable(), true).Rules {
		fmt.Fprintf(&seed, "%s:%s\n", r.Chain, r.Comment)
	}
	f.Add(seed.String())
	f.Add("s1:q2 svc id=1 fam=4 proto=6 addr=192.0.2.1 port=80 sched=rr persist=0 mask=32\ns1:q2 pick id=1\ns1:q2 cnt id=1\ns1:q2 nat id=1\n")
	f.Fuzz(func(t *testing.T, s string) {
		d := dump{TableExists: true}
		for _, line := range strings.Split(s, "\n") {
			chain, c, _ := strings.Cut(line, ":")
			d.Chains = append(d.Chains, chain)
			d.Rules = append(d.Rules, ruleInfo{Chain: chain, Comment: c, Packets: 1})
		}
		for _, masq := range []bool{true, false} {
			st := decodeState(d, masq)
			for _, svc := range st.Table().Services {
				if err := CheckService(svc); err != nil {
					t.Fatalf("decoded an unsupported service: %v", err)
				}
			}
			st.statsOf(nil)
		}
	})
}

func TestRuleComment(t *testing.T) {
	cases := []struct {
		in   []byte
		want string
	}{
		{userdata.AppendString(nil, userdata.TypeComment, "q2 end id=1"), "q2 end id=1"},
		{append([]byte{5, 1, 9}, userdata.AppendString(nil, userdata.TypeComment, "x")...), "x"},
		{[]byte{0, 50, 'a'}, ""},
		{[]byte{0}, ""},
		{nil, ""},
		{[]byte{0, 3, 'a', 'b', 'c'}, "abc"},
	}
	for _, c := range cases {
		if got := ruleComment(c.in); got != c.want {
			t.Errorf("ruleComment(%x) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestCleanState: a table exactly as render lays it out is clean (Apply may
// patch it service by service); any leftover makes it dirty.
func TestCleanState(t *testing.T) {
	want := sampleTable()
	st := decodeState(synthDump(want, true), true)
	if !st.clean(st.Table()) {
		t.Fatal("a synthetic table is not clean")
	}
	for name, mutate := range map[string]func(*dump){
		"orphan chain": func(d *dump) { d.Chains = append(d.Chains, "s77") },
		"orphan slot": func(d *dump) {
			d.Elements[setSlots] = append(d.Elements[setSlots], setElem{Key: string(native32(1<<16 | 900)), Value: string(native32(markOf(2)))})
		},
		"orphan counter": func(d *dump) {
			d.Elements[statsIn] = append(d.Elements[statsIn], setElem{Key: string(native32(markOf(99)))})
		},
		"undecodable":        func(d *dump) { d.Elements[setDst4] = append(d.Elements[setDst4], setElem{Key: "x"}) },
		"orphan persistence": func(d *dump) { d.Sets = append(d.Sets, "p99_1_32_4") },
	} {
		d := synthDump(want, true)
		mutate(&d)
		st := decodeState(d, true)
		if st.clean(st.Table()) {
			t.Errorf("%s: reported clean", name)
		}
	}
}
