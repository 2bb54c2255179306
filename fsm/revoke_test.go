package fsm

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRevokeNode(t *testing.T) {
	h := newHarness(t)
	if r := h.apply(RevokeNode{Node: "n3", Revoked: true}); r.Err != nil {
		t.Fatal(r.Err)
	}
	h.apply(RevokeNode{Node: "n1", Revoked: true})
	if got := h.state().Revoked(); !slices.Equal(got, []string{"n1", "n3"}) {
		t.Fatalf("revoked %v", got)
	}
	if !h.state().IsRevoked("n3") || h.state().IsRevoked("n2") {
		t.Fatal("IsRevoked")
	}
	h.apply(RevokeNode{Node: "n1", Revoked: false})
	if got := h.state().Revoked(); !slices.Equal(got, []string{"n3"}) {
		t.Fatalf("after un-revoke %v", got)
	}
	for _, bad := range []string{"", "a b", strings.Repeat("x", 65), "n\x00"} {
		before := snapBytes(t, h.state())
		r := h.apply(RevokeNode{Node: bad, Revoked: true})
		if !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("%q: %v", bad, r.Err)
		}
		if string(unchangedBut(t, stateFromSnap(t, before), r.Index, false)) != string(snapBytes(t, h.state())) {
			t.Errorf("%q: a refused revoke changed the state", bad)
		}
	}
	// The deny list survives a snapshot.
	s2, err := UnmarshalSnapshot(snapBytes(t, h.state()), DefaultParse)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s2.Revoked(), []string{"n3"}) {
		t.Fatalf("restored %v", s2.Revoked())
	}
}

func stateFromSnap(t *testing.T, b []byte) *State {
	t.Helper()
	s, err := UnmarshalSnapshot(b, DefaultParse)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOriginTravelsInTheEnvelope(t *testing.T) {
	b := MustEncodeFrom(SetMaintenance{Node: "n1", On: true}, "api node=n2 remote=192.0.2.7:5000 auth=admin")
	typ, origin, err := Peek(b)
	if err != nil || typ != TypeSetMaintenance || origin != "api node=n2 remote=192.0.2.7:5000 auth=admin" {
		t.Fatalf("peek: %s %q %v", typ, origin, err)
	}
	c, err := Decode(b)
	if err != nil || c != (SetMaintenance{Node: "n1", On: true}) {
		t.Fatalf("decode: %+v %v", c, err)
	}
	long := MustEncodeFrom(SetMaintenance{Node: "n1"}, strings.Repeat("o", 2*MaxOriginBytes))
	if _, o, _ := Peek(long); len(o) != MaxOriginBytes {
		t.Fatalf("origin not bounded: %d bytes", len(o))
	}
	if _, _, err := Peek([]byte("{")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("peek of bad JSON: %v", err)
	}
	// No origin: the encoding is the one of Encode.
	if string(MustEncodeFrom(SetMaintenance{Node: "n"}, "")) != string(MustEncode(SetMaintenance{Node: "n"})) {
		t.Fatal("empty origin changed the encoding")
	}
}
