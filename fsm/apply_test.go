package fsm

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"quadrature/config"
)

func snapBytes(t testing.TB, s *State) []byte {
	t.Helper()
	b, err := s.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unchangedBut returns the snapshot prev would have after a rejected entry
// at index (only the index and, for unknown commands, the counter move).
func unchangedBut(t testing.TB, prev *State, index uint64, unknown bool) []byte {
	t.Helper()
	n := prev.clone()
	n.index = index
	if unknown {
		n.unknown++
	}
	return snapBytes(t, n)
}

func TestConfigCompareAndSwap(t *testing.T) {
	h := iwashHarness(t)
	before := h.state()
	r := h.apply(configCmd(t, readTestdata(t, "iwash.conf"), 0, iwashNodes...))
	var ce *ConflictError
	if !errors.Is(r.Err, ErrConflict) || !errors.As(r.Err, &ce) || ce.Current != 1 || ce.Expected != 0 {
		t.Fatalf("stale ExpectVersion: %v, want conflict with current 1", r.Err)
	}
	if r.ConfigVersion != 1 {
		t.Fatalf("result version %d", r.ConfigVersion)
	}
	if !bytes.Equal(snapBytes(t, h.state()), unchangedBut(t, before, h.idx, false)) {
		t.Fatal("a conflicting SetConfig changed the state")
	}
	// The right version is accepted and becomes previous+1.
	conf := strings.Replace(readTestdata(t, "iwash.conf"), "lb_algo wrr", "lb_algo wlc", 1)
	if err := h.f.ValidateSetConfig(configCmd(t, conf, 1, iwashNodes...)); err != nil {
		t.Fatalf("ValidateSetConfig: %v", err)
	}
	if err := h.f.ValidateSetConfig(configCmd(t, conf, 0, iwashNodes...)); !errors.Is(err, ErrConflict) {
		t.Fatalf("ValidateSetConfig stale: %v", err)
	}
	r = h.must(configCmd(t, conf, 1, iwashNodes...))
	if r.ConfigVersion != 2 || h.state().DesiredTable().Services[0].Scheduler != "wlc" {
		t.Fatalf("second config: version %d, table %+v", r.ConfigVersion, h.state().DesiredTable())
	}
	// A bad config leaves everything as it was.
	before = h.state()
	r = h.apply(configCmd(t, "virtual_server {", 2, "iwash1"))
	if !errors.Is(r.Err, ErrInvalid) || !bytes.Equal(snapBytes(t, h.state()), unchangedBut(t, before, h.idx, false)) {
		t.Fatalf("bad config: %v, or state changed", r.Err)
	}
	// Invalid sources, on a fresh FSM without live nodes.
	e := newHarness(t)
	for _, bad := range []SetConfig{
		{Main: "x", Files: []File{{"y", nil}}, Nodes: []string{"a"}},
		{Main: "x", Files: []File{{"x", nil}, {"x", nil}}, Nodes: []string{"a"}},
		{Main: "x", Files: []File{{"x", nil}}},
		{Main: "x", Files: []File{{"x", nil}}, Nodes: []string{""}},
		{Main: "x", Files: []File{{"", nil}}, Nodes: []string{"a"}},
		{Main: "x", Files: []File{{"x", nil}}, Hosts: []Host{{"h", nil}}, Nodes: []string{"a"}},
		{Main: "x", Files: []File{{"x", nil}}, Hosts: []Host{{"h", []netip.Addr{{}}}}, Nodes: []string{"a"}},
	} {
		if r := e.apply(bad); !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", bad, r.Err)
		}
	}
	if e.state().ConfigVersion() != 0 {
		t.Fatal("an invalid config was accepted")
	}
	// An empty file is a valid (empty) configuration.
	if r := e.apply(SetConfig{Main: "x", Files: []File{{"x", nil}}, Nodes: []string{"a"}}); r.Err != nil || r.ConfigVersion != 1 {
		t.Fatalf("empty config: %+v", r)
	}
}

func TestConfigPrunesRemovedServers(t *testing.T) {
	h := iwashHarness(t)
	h.report("iwash1", up(iwashVS, "203.0.113.13:3128", 4))
	h.must(SetDrain{VS: iwashVS, RS: ap("203.0.113.13:3128"), Drained: true})
	conf := readTestdata(t, "iwash.conf")
	cut := strings.Index(conf, " real_server iwash3")
	conf = conf[:cut] + "}\n"
	h.must(configCmd(t, conf, 1, iwashNodes...))
	s := h.state()
	if len(s.Observations()) != 0 || len(s.Drained()) != 0 || len(s.Verdicts()) != 2 {
		t.Fatalf("removed real server left state behind: obs %v drains %v verdicts %v", s.Observations(), s.Drained(), s.Verdicts())
	}
}

func TestUnknownCommand(t *testing.T) {
	h := iwashHarness(t)
	for i, raw := range []string{
		`{"type":"set_frobnicator","v":1,"payload":{"x":1}}`,
		`{"type":"set_maintenance","v":2,"payload":{"node":"iwash1","on":true,"why":"new field"}}`,
	} {
		before := h.state()
		h.idx++
		r := h.f.ApplyCommand(h.idx, []byte(raw))
		if !errors.Is(r.Err, ErrUnknownCommand) {
			t.Fatalf("%s: %v", raw, r.Err)
		}
		if got := h.state().UnknownCommands(); got != uint64(i+1) {
			t.Fatalf("UnknownCommands = %d, want %d", got, i+1)
		}
		if !bytes.Equal(snapBytes(t, h.state()), unchangedBut(t, before, h.idx, true)) {
			t.Fatal("unknown command changed more than the counter")
		}
	}
}

func TestMalformedAndNonCommandEntries(t *testing.T) {
	h := iwashHarness(t)
	before := h.state()
	if r := h.f.Apply(&raft.Log{Index: 100, Type: raft.LogConfiguration, Data: []byte("x")}); r != nil {
		t.Fatalf("configuration entry returned %v", r)
	}
	if h.state() != before {
		t.Fatal("configuration entry changed the state")
	}
	if r := h.f.Apply(nil); r != nil {
		t.Fatalf("nil log returned %v", r)
	}
	resp := h.f.Apply(&raft.Log{Index: 101, Type: raft.LogCommand, Data: []byte(`{"type":"set_drain"`)})
	err, ok := resp.(error)
	if !ok || !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed: %#v", resp)
	}
	if !bytes.Equal(snapBytes(t, h.state()), unchangedBut(t, before, 101, false)) {
		t.Fatal("malformed entry changed the state")
	}
	// Commands that need a config fail cleanly without one.
	e := newHarness(t)
	for _, c := range []Command{ReportVerdicts{Node: "a"}, SetDrain{VS: "x"}, TransferVIP{Instance: "i", ToNode: "a"}} {
		if r := e.apply(c); !errors.Is(r.Err, ErrNoConfig) {
			t.Errorf("%s without config: %v", c.CommandType(), r.Err)
		}
	}
	if r := e.apply(SetMaintenance{}); !errors.Is(r.Err, ErrInvalid) {
		t.Errorf("maintenance without node: %v", r.Err)
	}
	if r := e.apply(SetLiveNodes{Nodes: []string{"a", ""}}); !errors.Is(r.Err, ErrInvalid) {
		t.Errorf("live node with empty name: %v", r.Err)
	}
	if e.state().DesiredTable().Digest() != (newHarness(t).state().DesiredTable().Digest()) || len(e.state().Placement()) != 0 {
		t.Error("empty state derives something")
	}
}

func TestParserPanicAndErrorAreContained(t *testing.T) {
	panicky := func(map[string][]byte, string, map[string][]netip.Addr, string) (*config.Config, error) {
		panic("boom")
	}
	f := New(Options{Parse: panicky})
	r := f.ApplyCommand(1, MustEncode(configCmd(t, "x", 0, "a")))
	if !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "panicked") {
		t.Fatalf("panicking parser: %v", r.Err)
	}
	nilModel := func(map[string][]byte, string, map[string][]netip.Addr, string) (*config.Config, error) {
		return nil, nil
	}
	f = New(Options{Parse: nilModel})
	if r := f.ApplyCommand(1, MustEncode(configCmd(t, "x", 0, "a"))); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("nil model: %v", r.Err)
	}
	if _, err := DefaultParse(map[string][]byte{"m": nil}, "m", nil, ""); err == nil {
		t.Fatal("DefaultParse accepted an empty node name (would use the host name)")
	}
}

func TestIncludesFromMemory(t *testing.T) {
	files := map[string][]byte{
		"/etc/keepalived/keepalived.conf": []byte("include conf.d/*.conf\n"),
		"/etc/keepalived/conf.d/a.conf": []byte(`virtual_server 192.0.2.1 80 {
 real_server tic 80 {
 }
}
`),
		"/etc/keepalived/conf.d/b.conf": []byte(`virtual_server 192.0.2.2 80 {
 real_server tac 80 {
 }
}
`),
		"/etc/keepalived/other/c.conf": []byte("garbage {{{"),
	}
	c := SetConfig{Main: "/etc/keepalived/keepalived.conf", Hosts: testHosts(t), Nodes: []string{"tic"}}
	for n, b := range files {
		c.Files = append(c.Files, File{n, b})
	}
	h := newHarness(t)
	h.must(c)
	tbl := h.state().DesiredTable()
	if len(tbl.Services) != 2 || tbl.Services[0].Destinations[0].Addr != netip.MustParseAddr("192.0.2.133") ||
		tbl.Services[1].Destinations[0].Addr != netip.MustParseAddr("192.0.2.134") {
		t.Fatalf("table from included files: %+v", tbl)
	}
}

// Apply's response follows package cluster's contract: an error with a
// Code (matched by code after forwarding), or JSON bytes.
func TestApplyResponseContract(t *testing.T) {
	h := iwashHarness(t)
	resp := h.f.Apply(&raft.Log{Index: 50, Type: raft.LogCommand, Data: MustEncode(configCmd(t, "", 0, "iwash1"))})
	err, ok := resp.(error)
	if !ok {
		t.Fatalf("conflict response %#v is not an error", resp)
	}
	var coded interface{ Code() string }
	if !errors.As(err, &coded) || coded.Code() != ErrConflict.Code() {
		t.Fatalf("conflict error %v has no conflict code", err)
	}
	// What cluster does after forwarding: match by code only.
	forwarded := codeOnly{msg: err.Error(), code: coded.Code()}
	if !errors.Is(forwarded, ErrConflict) || errors.Is(forwarded, ErrInvalid) {
		t.Fatal("forwarded error does not match ErrConflict by code")
	}
	resp = h.f.Apply(&raft.Log{Index: 51, Type: raft.LogCommand, Data: MustEncode(SetMaintenance{Node: "iwash1", On: true})})
	b, ok := resp.([]byte)
	if !ok {
		t.Fatalf("success response %#v is not []byte", resp)
	}
	res, err := DecodeResult(b)
	if err != nil || res.Index != 51 || res.Type != TypeSetMaintenance || res.ConfigVersion != 1 {
		t.Fatalf("decoded result %+v, %v", res, err)
	}
	if _, err := DecodeResult(ErrInvalid); !errors.Is(err, ErrInvalid) {
		t.Fatal("DecodeResult(error) lost the error")
	}
	if r, err := DecodeResult(nil); err != nil || r.Index != 0 {
		t.Fatal("DecodeResult(nil)")
	}
	if _, err := DecodeResult(42); err == nil {
		t.Fatal("DecodeResult(42) accepted")
	}
}

// codeOnly mimics cluster.ApplyError after forwarding.
type codeOnly struct{ msg, code string }

func (e codeOnly) Error() string { return e.msg }
func (e codeOnly) Is(target error) bool {
	c, ok := target.(interface{ Code() string })
	return ok && c.Code() == e.code
}
