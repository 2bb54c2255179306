package netnstest

import (
	"strings"
	"testing"
)

func TestLabPingAndBlock(t *testing.T) {
	RequireBinary(t, "nft")
	l := NewLab(t)
	a := l.AddHost("a", "192.0.2.1/24", "2001:db8::1/64")
	b := l.AddHost("b", "192.0.2.2/24", "2001:db8::2/64")
	if out, err := a.Run("ping", "-c1", "-W2", "192.0.2.2"); err != nil {
		t.Fatalf("ping before block: %v %s", err, out)
	}
	if out, err := a.Run("ping", "-6", "-c1", "-W2", "2001:db8::2"); err != nil {
		t.Fatalf("ping6 before block: %v %s", err, out)
	}
	l.Block(a, b)
	if _, err := a.Run("ping", "-c1", "-W1", "192.0.2.2"); err == nil {
		t.Fatalf("ping crossed a blocked pair")
	}
	l.Unblock(a, b)
	if out, err := a.Run("ping", "-c1", "-W2", "192.0.2.2"); err != nil {
		t.Fatalf("ping after unblock: %v %s", err, out)
	}
	l.SetPort(b, false)
	if _, err := a.Run("ping", "-c1", "-W1", "192.0.2.2"); err == nil {
		t.Fatalf("ping crossed a downed port")
	}
	l.SetPort(b, true)
	var addrs string
	if err := b.Do(func() error {
		out, err := b.Run("ip", "-br", "addr", "show", "eth0")
		addrs = string(out)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(addrs, "192.0.2.2") {
		t.Fatalf("addresses: %s", addrs)
	}
}

func TestCleanupRemovesNamespaces(t *testing.T) {
	RequireRoot(t)
	var prefix string
	t.Run("inner", func(t *testing.T) {
		l := NewLab(t)
		l.AddHost("x", "198.51.100.1/24")
		prefix = l.Prefix
	})
	out, err := (&NS{Name: ""}).listNetns()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, prefix) {
		t.Fatalf("namespaces with prefix %s remain: %s", prefix, out)
	}
}
