package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func sampleCommands() []Command {
	return []Command{
		SetConfig{ExpectVersion: 3, Main: "m", Files: []File{{"m", []byte("x\x00\xff")}, {"a", nil}},
			Hosts: []Host{{"h", []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.1")}}}, Nodes: []string{"b", "a"}},
		ReportVerdicts{Node: "n", Full: true, Observations: []Observation{up("VS2", "192.0.2.2:80", 3), down("VS1", "192.0.2.1:80")}},
		SetDrain{VS: "tcp/192.0.2.1:80", RS: ap("198.51.100.1:80"), Drained: true},
		SetMaintenance{Node: "n", On: true},
		SetLiveNodes{Nodes: []string{"c", "a", "b", "a"}},
		SetPlacement{Priorities: []InstancePriorities{{"z", []NodePriority{{"b", 2}, {"a", 1}}}, {"y", nil}}},
		TransferVIP{Instance: "i", ToNode: "n"},
		RevokeNode{Node: "n", Revoked: true},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, c := range sampleCommands() {
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%T: decode: %v", c, err)
		}
		if !reflect.DeepEqual(got, canonicalCommand(c)) {
			t.Errorf("%T: round trip\n got %+v\nwant %+v", c, got, canonicalCommand(c))
		}
		// Re-encoding the decoded command gives the same bytes.
		b2, _ := Encode(got)
		if !bytes.Equal(b, b2) {
			t.Errorf("%T: encoding not canonical:\n%s\n%s", c, b, b2)
		}
		// Pointers encode like values.
		if pb, _ := Encode(ptrTo(c)); !bytes.Equal(pb, b) {
			t.Errorf("%T: pointer encodes differently", c)
		}
	}
}

func ptrTo(c Command) Command {
	switch c := c.(type) {
	case SetConfig:
		return &c
	case ReportVerdicts:
		return &c
	case SetDrain:
		return &c
	case SetMaintenance:
		return &c
	case SetLiveNodes:
		return &c
	case SetPlacement:
		return &c
	case TransferVIP:
		return &c
	case RevokeNode:
		return &c
	}
	return c
}

func TestEncodeCanonicalOrder(t *testing.T) {
	a := MustEncode(SetLiveNodes{Nodes: []string{"b", "a", "c"}})
	b := MustEncode(SetLiveNodes{Nodes: []string{"c", "b", "a", "a"}})
	if !bytes.Equal(a, b) {
		t.Fatalf("same set, different bytes:\n%s\n%s", a, b)
	}
	if string(a) != `{"type":"set_live_nodes","v":1,"payload":{"nodes":["a","b","c"]}}` {
		t.Fatalf("encoding %s", a)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{`{"type":"set_frobnicator","v":1,"payload":{}}`, ErrUnknownCommand},
		{`{"type":"set_drain","v":2,"payload":{}}`, ErrUnknownCommand},
		{`{"type":"set_drain","v":0,"payload":{}}`, ErrUnknownCommand},
		{`{"type":"set_drain","v":1}`, ErrMalformed},
		{`{"type":"set_drain","v":1,"payload":{"vs":1}}`, ErrMalformed},
		{`{"type":"set_drain","v":1,"payload":{"bogus":true}}`, ErrMalformed},
		{`{"type":"set_drain","v":1,"payload":{"rs":"not-an-address"}}`, ErrMalformed},
		{`{"type":"set_drain","v":1,"payload":{}} {}`, ErrMalformed},
		{`{"type":"set_drain","v":1,"payload":{},"extra":1}`, ErrMalformed},
		{`not json`, ErrMalformed},
		{``, ErrMalformed},
		{`null`, ErrUnknownCommand},
	}
	for _, tc := range tests {
		_, err := Decode([]byte(tc.in))
		if !errors.Is(err, tc.want) {
			t.Errorf("Decode(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestSupports(t *testing.T) {
	if !Supports(MaxCommandVersion) || !Supports(MinCommandVersion) || Supports(0) || Supports(MaxCommandVersion+1) {
		t.Fatal("Supports disagrees with Min/MaxCommandVersion")
	}
	b, err := EncodeVersion(SetMaintenance{Node: "n"}, MaxCommandVersion+1)
	if err != nil {
		t.Fatal(err)
	}
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil || env.Version != MaxCommandVersion+1 {
		t.Fatalf("EncodeVersion: %s %v", b, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range sampleCommands() {
		f.Add(MustEncode(c))
	}
	f.Add([]byte(`{"type":"x","v":9,"payload":null}`))
	f.Add([]byte(`{"type":"report_verdicts","v":1,"payload":{"node":"n","observations":[{"vs":"a","rs":"[::1]:1","up":true,"weight":-5}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			if c != nil {
				t.Fatal("command returned with an error")
			}
			return
		}
		// A decodable command re-encodes to a fixed point: canonical
		// bytes that decode and encode to themselves.
		b2, err := Encode(c)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		c2, err := Decode(b2)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if b3, err := Encode(c2); err != nil || !bytes.Equal(b2, b3) {
			t.Fatalf("not a fixed point: %v\n%s\n%s", err, b2, b3)
		}
	})
}
