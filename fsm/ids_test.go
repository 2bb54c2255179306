package fsm

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestLegacyIDsSnapshot restores a snapshot written before the one ID
// scheme (virtual servers spelled "TCP 203.0.113.10:3128") and checks that
// it becomes the state the current build writes for the same history: the
// golden snapshot of TestIWashScenarioGolden, byte for byte.
func TestLegacyIDsSnapshot(t *testing.T) {
	legacy, err := os.ReadFile("testdata/legacy_ids_snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(legacy, []byte(`"vs": "TCP 203.0.113.10:3128"`)) {
		t.Fatal("the legacy fixture lost its legacy IDs")
	}
	s, err := UnmarshalSnapshot(legacy, DefaultParse)
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, snapBytes(t, s), "", " "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteString("\n")
	want, err := os.ReadFile("testdata/iwash_snapshot.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Fatalf("a legacy snapshot restores to\n%s\nwant\n%s", pretty.Bytes(), want)
	}
	if !s.IsDrained(iwashVS, ap("203.0.113.11:3128")) {
		t.Error("the legacy drain is not found under the new ID")
	}
	if _, ok := s.quorum[iwashVS]; !ok || len(s.quorum) != 1 {
		t.Errorf("quorum state %v, want one entry under %s", s.quorum, iwashVS)
	}
}

// TestLegacyIDsCommands applies commands of an earlier build (legacy IDs)
// after a config: they act on the same real servers as commands in the
// current scheme, and the state holds only current IDs.
func TestLegacyIDsCommands(t *testing.T) {
	h := iwashHarness(t)
	for _, n := range iwashNodes {
		h.report(n, up(iwashVS, "203.0.113.11:3128", 10), up(iwashVS, "203.0.113.12:3128", 20), up(iwashVS, "203.0.113.13:3128", 20))
	}
	raw := func(typ, payload string) []byte {
		return []byte(`{"type":"` + typ + `","v":1,"payload":` + payload + `}`)
	}
	for _, b := range [][]byte{
		raw("report_verdicts", `{"node":"iwash1","observations":[{"vs":"TCP 203.0.113.10:3128","rs":"203.0.113.12:3128","up":false,"weight":0}]}`),
		raw("report_verdicts", `{"node":"iwash3","observations":[{"vs":"TCP 203.0.113.10:3128","rs":"203.0.113.12:3128","up":false,"weight":0}]}`),
		raw("set_drain", `{"vs":"TCP 203.0.113.10:3128","rs":"203.0.113.11:3128","drained":true}`),
	} {
		c, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if r := h.apply(c); r.Err != nil {
			t.Fatalf("%s: %v", b, r.Err)
		}
	}
	s := h.state()
	if !s.IsDrained(iwashVS, ap("203.0.113.11:3128")) {
		t.Error("a legacy set_drain did not drain the real server")
	}
	for _, v := range s.Verdicts() {
		if v.VS != iwashVS {
			t.Errorf("verdict under %q", v.VS)
		}
		if v.RS == ap("203.0.113.12:3128") && v.Up {
			t.Error("two legacy down reports did not take the real server down")
		}
	}
	for _, o := range s.Observations() {
		if strings.Contains(o.VS, " ") {
			t.Errorf("observation kept a legacy ID: %+v", o)
		}
	}
}

// TestKernelKeyIsServiceID: for a virtual_server that is not a group, the
// kernel service it becomes (lvs.ServiceKey.String) has the virtual
// server's ID, so the lvs metrics' vs label joins with the group's.
func TestKernelKeyIsServiceID(t *testing.T) {
	text := `virtual_server 192.0.2.10 80 {
  protocol TCP
  real_server 198.51.100.1 80 {
  }
}
virtual_server 2001:db8::10 53 {
  protocol UDP
  real_server 2001:db8::1 53 {
  }
}
virtual_server fwmark 7 {
  real_server 198.51.100.1 80 {
  }
}
virtual_server fwmark 8 inet6 {
  real_server 2001:db8::1 80 {
  }
}
virtual_server 192.0.2.11 9 {
  protocol SCTP
  real_server 198.51.100.1 9 {
  }
}
`
	cfg, err := DefaultParse(map[string][]byte{"k.conf": []byte(text)}, "k.conf", nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tcp/192.0.2.10:80", "udp/[2001:db8::10]:53", "fwmark/7", "fwmark/8/ipv6", "sctp/192.0.2.11:9"}
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		shapes, err := ServiceShapes(cfg, vs)
		if err != nil || len(shapes) != 1 {
			t.Fatalf("%s: %v, %d shapes", vs.ID(), err, len(shapes))
		}
		if got := shapes[0].Key.String(); got != vs.ID() || got != want[i] {
			t.Errorf("kernel key %q, virtual server ID %q, want both %q", got, vs.ID(), want[i])
		}
	}
}
