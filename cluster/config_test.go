package cluster

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func validConfig() Config {
	return Config{
		NodeName: "iwash1",
		BindAddr: netip.MustParseAddr("198.51.100.11"),
		Peers:    []string{"198.51.100.12", "198.51.100.13:7946"},
		DataDir:  "/var/lib/quadrature",
		RaftPort: 7950, GossipPort: 7946,
		BootstrapExpect: 3,
		TLS:             &TLSConfig{CertFile: "node.crt", KeyFile: "node.key", CAFile: "ca.crt"},
		GossipKey:       bytes.Repeat([]byte{1}, 32),
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		errHas string
	}{
		{"valid", func(*Config) {}, ""},
		{"no name", func(c *Config) { c.NodeName = "" }, "node_name is required"},
		{"bad name", func(c *Config) { c.NodeName = "a b" }, "not allowed"},
		{"long name", func(c *Config) { c.NodeName = strings.Repeat("a", 65) }, "longer than 64"},
		{"no bind", func(c *Config) { c.BindAddr = netip.Addr{} }, "concrete IP"},
		{"unspecified bind", func(c *Config) { c.BindAddr = netip.IPv6Unspecified() }, "concrete IP"},
		{"port range", func(c *Config) { c.RaftPort = 70000 }, "out of range"},
		{"same ports", func(c *Config) { c.GossipPort = c.RaftPort }, "must differ"},
		{"bad peer", func(c *Config) { c.Peers = []string{"a b:1"} }, "peer"},
		{"bad peer port", func(c *Config) { c.Peers = []string{"198.51.100.12:0"} }, "bad port"},
		{"negative expect", func(c *Config) { c.BootstrapExpect = -1 }, "negative"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"bad role", func(c *Config) { c.Role = "king" }, "unknown role"},
		{"bad key", func(c *Config) { c.GossipKey = []byte("short") }, "16, 24 or 32"},
		{"half tls", func(c *Config) { c.TLS = &TLSConfig{CertFile: "a"} }, "tls needs"},
		{"group without tls", func(c *Config) { c.TLS = nil }, "needs mutual TLS"},
		{"group without gossip key", func(c *Config) { c.GossipKey = nil }, "needs mutual TLS"},
		{"insecure group", func(c *Config) { c.TLS, c.GossipKey, c.Insecure = nil, nil, true }, ""},
		{"alone without tls", func(c *Config) { c.TLS, c.GossipKey, c.Peers, c.BootstrapExpect = nil, nil, nil, 1 }, ""},
		{"bad node list", func(c *Config) { c.Nodes = []string{"ok", "not ok"} }, "nodes"},
		{"lease too long", func(c *Config) {
			c.Timing = TunedTiming()
			c.Timing.LeaderLeaseTimeout = time.Second
		}, "leader_lease_timeout"},
		{"zero timer", func(c *Config) {
			c.Timing = TunedTiming()
			c.Timing.MonitorInterval = 0
		}, "monitor_interval"},
		{"probe timeout", func(c *Config) {
			c.Timing = TunedTiming()
			c.Timing.ProbeTimeout = c.Timing.ProbeInterval
		}, "probe_timeout"},
		{"bad mac", func(c *Config) { c.Metadata.MACs = []string{"zz"} }, "mac"},
		{"big meta", func(c *Config) { c.Metadata.Extra = map[string]string{"x": strings.Repeat("y", 600)} }, "bytes"},
		{"witness ok", func(c *Config) { c.Role = RoleWitness }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.errHas == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)):
				t.Fatalf("error %v, want it to contain %q", err, tt.errHas)
			}
		})
	}
	if err := DefaultTiming().validate(); err != nil {
		t.Fatalf("default timing: %v", err)
	}
	if err := TunedTiming().validate(); err != nil {
		t.Fatalf("tuned timing: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{NodeName: "a", BindAddr: netip.MustParseAddr("127.0.0.1"), DataDir: "/x"}
	d := c.withDefaults()
	if d.BootstrapExpect != 1 || d.Role != RoleVoter || d.Timing != DefaultTiming() ||
		d.DegradedAfter != 3*time.Second || d.SnapshotRetain != 2 || d.Logger == nil {
		t.Fatalf("defaults: %+v", d)
	}
	c.Peers = []string{"127.0.0.2"}
	if d := c.withDefaults(); d.BootstrapExpect != 0 {
		t.Fatalf("with peers and no expect, want join-only (0), got %d", d.BootstrapExpect)
	}
	if _, err := New(c, nil); err == nil {
		t.Fatal("New accepted a nil FSM")
	}
	if _, err := New(Config{}, newKV()); err == nil {
		t.Fatal("New accepted an empty config")
	}
	// The raft config we derive must pass raft's own validation.
	rc := raft.DefaultConfig()
	rc.LocalID = "x"
	tm := TunedTiming()
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout, rc.CommitTimeout = tm.HeartbeatTimeout, tm.ElectionTimeout, tm.LeaderLeaseTimeout, tm.CommitTimeout
	if err := raft.ValidateConfig(rc); err != nil {
		t.Fatalf("tuned timing rejected by raft: %v", err)
	}
}

func TestPeerAddress(t *testing.T) {
	tests := []struct{ in, want, errHas string }{
		{"198.51.100.12", "198.51.100.12:7946", ""},
		{"198.51.100.12:8000", "198.51.100.12:8000", ""},
		{"2001:db8::1", "[2001:db8::1]:7946", ""},
		{"[2001:db8::1]:8000", "[2001:db8::1]:8000", ""},
		{"node2.example", "node2.example:7946", ""},
		{"node2.example:99", "node2.example:99", ""},
		{" 198.51.100.12 ", "198.51.100.12:7946", ""},
		{"", "", "empty"},
		{"host:port", "", "bad port"},
		{"host:70000", "", "bad port"},
		{":80", "", "bad host"},
		{"fe80::1%eth0", "", "zones"},
		{"a/b", "", "not host"},
	}
	for _, tt := range tests {
		got, err := peerAddress(tt.in, 7946)
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("peerAddress(%q) = %q, %v; want error with %q", tt.in, got, err, tt.errHas)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("peerAddress(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestGossipKeyFile(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	p := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadGossipKey(p)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("LoadGossipKey = %x, %v", got, err)
	}
	for name, text := range map[string]string{
		"empty":      "  \n",
		"not base64": "!!!!",
		"wrong size": base64.StdEncoding.EncodeToString([]byte("tooshort")),
	} {
		if _, err := ParseGossipKey([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadGossipKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
	raw := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 16))
	if k, err := ParseGossipKey([]byte(raw)); err != nil || len(k) != 16 {
		t.Errorf("raw url base64: %x %v", k, err)
	}
}

func FuzzParseGossipKey(f *testing.F) {
	f.Add([]byte(base64.StdEncoding.EncodeToString(make([]byte, 16))))
	f.Add([]byte("\n"))
	f.Add([]byte("AAAA===="))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseGossipKey(b)
		if err == nil && len(k) != 16 && len(k) != 24 && len(k) != 32 {
			t.Fatalf("accepted key of %d bytes", len(k))
		}
	})
}

func FuzzPeerAddress(f *testing.F) {
	for _, s := range []string{"198.51.100.12", "[2001:db8::1]:1", "h:1", "", ":", "[::1", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := peerAddress(s, 7946)
		if err != nil {
			return
		}
		if _, _, err := splitHostPortStrict(a); err != nil {
			t.Fatalf("peerAddress(%q) = %q, not host:port: %v", s, a, err)
		}
	})
}
