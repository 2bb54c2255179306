package loopguard

import (
	"bytes"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"

	"quadrature/lvs"
)

// TestTargetExprs pins the rule a target becomes, as nft would print it.
func TestTargetExprs(t *testing.T) {
	tg := Target{lvs.TCP, mustAddr("203.0.113.10"), 3128, mustAddr("203.0.113.11"), 3128}
	e := targetExprs(tg, 5)
	want := []string{"meta", "cmp", "meta", "cmp", "payload", "cmp", "payload", "cmp", "meta", "cmp", "payload", "lookup", "counter", "immediate", "immediate", "nat"}
	if len(e) != len(want) {
		t.Fatalf("%d expressions, want %d", len(e), len(want))
	}
	daddr := e[4].(*expr.Payload)
	if daddr.Base != expr.PayloadBaseNetworkHeader || daddr.Offset != 16 || daddr.Len != 4 {
		t.Errorf("IPv4 daddr load %+v", daddr)
	}
	if c := e[5].(*expr.Cmp); !bytes.Equal(c.Data, []byte{203, 0, 113, 10}) {
		t.Errorf("VIP compare %v", c.Data)
	}
	if c := e[7].(*expr.Cmp); !bytes.Equal(c.Data, []byte{0x0c, 0x38}) {
		t.Errorf("port compare %v (want big endian 3128)", c.Data)
	}
	if src := e[10].(*expr.Payload); src.Base != expr.PayloadBaseLLHeader || src.Offset != 6 || src.Len != 6 {
		t.Errorf("ether saddr load %+v", src)
	}
	if l := e[11].(*expr.Lookup); l.SetName != setName || l.SetID != 5 || l.Invert {
		t.Errorf("lookup %+v", l)
	}
	if nat := e[15].(*expr.NAT); nat.Type != expr.NATTypeDestNAT || nat.Family != 2 || nat.RegAddrMin != 1 || nat.RegProtoMin != 2 || !nat.Specified {
		t.Errorf("nat %+v", nat)
	}

	// IPv6, every port: no port match, no port rewrite.
	tg6 := Target{lvs.UDP, mustAddr("2001:db8::10"), 0, mustAddr("2001:db8::11"), 0}
	e6 := targetExprs(tg6, 5)
	if len(e6) != len(want)-3 {
		t.Fatalf("port-0 IPv6 rule has %d expressions", len(e6))
	}
	if p := e6[4].(*expr.Payload); p.Offset != 24 || p.Len != 16 {
		t.Errorf("IPv6 daddr load %+v", p)
	}
	if nat := e6[len(e6)-1].(*expr.NAT); nat.Family != 10 || nat.RegProtoMin != 0 || nat.Specified {
		t.Errorf("IPv6 nat %+v", nat)
	}
	for _, es := range [][]expr.Any{e, e6} {
		if _, err := canonicalExprs(es); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDecodeRule: a rule decodes only when its expressions are exactly
// what its comment says; counters and the batch set ID do not matter.
func TestDecodeRule(t *testing.T) {
	tg := Target{lvs.TCP, mustAddr("203.0.113.10"), 3128, mustAddr("203.0.113.11"), 3128}
	r := &nftables.Rule{Exprs: targetExprs(tg, 9), UserData: ruleUserData(tg)}
	for _, e := range r.Exprs {
		if c, ok := e.(*expr.Counter); ok {
			c.Packets, c.Bytes = 42, 4200
		}
	}
	got, err := decodeRule(r)
	if err != nil || got != tg {
		t.Fatalf("decodeRule: %v %v", got, err)
	}
	if p, _ := counterOf(r.Exprs); p != 42 {
		t.Fatalf("counterOf = %d", p)
	}
	other := tg
	other.Local = mustAddr("203.0.113.12")
	for name, r := range map[string]*nftables.Rule{
		"no comment":      {Exprs: targetExprs(tg, 0)},
		"truncated data":  {Exprs: targetExprs(tg, 0), UserData: bytes.Clone(ruleUserData(tg)[:5])},
		"foreign comment": {Exprs: targetExprs(tg, 0), UserData: userdata.AppendString(nil, userdata.TypeComment, "allow ssh")},
		"other target":    {Exprs: targetExprs(other, 0), UserData: ruleUserData(tg)},
		"truncated":       {Exprs: targetExprs(tg, 0)[:10], UserData: ruleUserData(tg)},
	} {
		if _, err := decodeRule(r); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzCommentOf(f *testing.F) {
	tg := Target{lvs.TCP, mustAddr("203.0.113.10"), 3128, mustAddr("203.0.113.11"), 3128}
	f.Add(ruleUserData(tg))
	f.Add(userdata.AppendUint32(ruleUserData(tg), userdata.TypeEbtablesPolicy, 7))
	f.Add(append(userdata.AppendUint32(nil, userdata.TypeEbtablesPolicy, 7), ruleUserData(tg)...))
	f.Add([]byte{0, 200, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := commentOf(b)
		if !ok {
			return
		}
		if len(c) > len(b) {
			t.Fatalf("comment %q longer than its data", c)
		}
		r := &nftables.Rule{UserData: b, Exprs: targetExprs(tg, 0)}
		if got, err := decodeRule(r); err == nil && ruleComment(got) != c {
			t.Fatalf("decoded %v from comment %q", got, c)
		}
	})
}
