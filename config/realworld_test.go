package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unsupportedIn lists, for the real-world samples that use features
// quadrature does not implement, the exact errors expected: nothing else
// may fail.
var unsupportedIn = map[string][]string{
	"unsupported_vmac_routes.conf": {
		"testdata/realworld/unsupported_vmac_routes.conf:4: not supported: lvs_sync_daemon (the IPVS connection sync daemon is not driven)",
		"testdata/realworld/unsupported_vmac_routes.conf:20: not supported: track_bfd (BFD is not implemented)",
		"testdata/realworld/unsupported_vmac_routes.conf:25: not supported: bfd_instance (BFD is not implemented)",
	},
}

func TestRealWorldCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/realworld/*.conf")
	if len(files) < 10 {
		t.Fatalf("only %d real-world samples", len(files))
	}
	for _, f := range files {
		base := filepath.Base(f)
		for _, node := range []string{"lb1", "lb2", "lb3"} {
			cfg, _, err := Load(f, LoadOptions{Node: node, Resolver: Hosts{}})
			if want, ok := unsupportedIn[base]; ok {
				if err == nil || err.Error() != strings.Join(want, "\n") {
					t.Errorf("%s: got errors:\n%v\nwant:\n%s", base, err, strings.Join(want, "\n"))
				}
				continue
			}
			if err != nil {
				t.Errorf("%s (node %s): %v", base, node, err)
				continue
			}
			roundTrip(t, base, cfg, LoadOptions{Resolver: Hosts{}})
		}
	}
}

// TestRealWorldSamples pins a few decoded values of the corpus, to catch a
// keyword that is parsed but lands in the wrong place.
func TestRealWorldSamples(t *testing.T) {
	load := func(name, node string) *Config {
		cfg, _, err := Load("testdata/realworld/"+name, LoadOptions{Node: node, Resolver: Hosts{}})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	c := load("http_get_digest.conf", "lb1")
	rs := c.VirtualServers[0].RealServers[0]
	if ck := rs.Checkers[0]; ck.Retry != 3 || ck.DelayBeforeRetry.Seconds() != 3 || ck.DelayLoop.Seconds() != 6 ||
		ck.HTTP.URLs[1].Status[1] != (StatusRange{304, 304}) || ck.HTTP.URLs[0].Digest != "9b3a0c85a887a256d6939da88aabd8cd" ||
		!rs.InhibitOnFailure || c.VirtualServers[0].PersistenceTimeout.Seconds() != 50 || c.Instances[0].Auth.Pass != "s3cr3t" {
		t.Errorf("http_get_digest: %+v", rs)
	}
	c = load("fwmark_persistent.conf", "lb1")
	if vs := c.VirtualServers[0]; vs.PersistenceTimeout.Seconds() != 360 || vs.PersistenceGranularity != 24 || vs.Fwmark != 1 ||
		vs.RealServers[0].Checkers[0].ConnectPort != 443 {
		t.Errorf("fwmark: %+v", vs)
	}
	if vs := c.VirtualServers[1]; vs.Family != FamilyInet6 || *vs.Tunnel != (Tunnel{"gue", 6080, "nocsum"}) || vs.SchedFlags[0] != "flag-2" {
		t.Errorf("fwmark 6: %+v", vs)
	}
	c = load("vs_group_ranges.conf", "lb1")
	if e := c.VSGroups[0].Entries[1]; e.First.String() != "198.51.100.64" || e.Last.String() != "198.51.100.71" {
		t.Errorf("group range: %+v", e)
	}
	if e := c.VSGroups[0].Entries[0]; e.Last.String() != "192.0.2.210" || e.Port != 80 {
		t.Errorf("group range: %+v", e)
	}
	c = load("unicast_cloud.conf", "lb1")
	in := c.Instances[0]
	if len(in.UnicastPeers) != 2 || in.UnicastPeers[1].MinTTL != 250 || in.TrackScripts[0].Weight != -30 ||
		in.TrackScripts[1].Weight != 0 || in.TrackInterfaces[0].Weight != -50 || !in.NoPreempt || !in.SkipCheckAdvAddr ||
		c.Scripts[0].Timeout.Seconds() != 1 || c.Scripts[1].Timeout.Seconds() != 5 || c.Global.MaxAutoPriority != 99 {
		t.Errorf("unicast: %+v", in)
	}
	c = load("ipv6_v3.conf", "lb1")
	if in := c.Instances[0]; in.Version != 3 || in.AdvertInt.Milliseconds() != 250 || !in.Accept /* strict: the owner accepts */ || !in.LowerPrioNoAdvert ||
		in.GarpLowerPrioRepeat != 0 || !in.VIPs[1].NoDAD {
		t.Errorf("ipv6: %+v", in)
	}
	c = load("misc_smtp_udp.conf", "lb1")
	m := c.VirtualServers[0].RealServers[0].Checkers[1].Misc
	if m.Path != "/usr/local/lib/keepalived/check_relay --queue 1000 192.0.2.51" || m.User != "nobody:nogroup" || m.Timeout.Seconds() != 20 {
		t.Errorf("misc: %+v", m)
	}
	if f := c.VirtualServers[1].RealServers[1].Checkers[0].File; f.Weight != 2 || f.TrackFile != "relay2_weight" {
		t.Errorf("file: %+v", f)
	}
	if u := c.VirtualServers[1].RealServers[0].Checkers[0].UDP; u.ReplyPattern != "3c3xxx3e" || string(u.Payload) != "<13>test" {
		t.Errorf("udp: %+v", u)
	}
	for node, prio := range map[string]int{"lb1": 150, "lb2": 100, "lb3": 50} {
		c = load("conditional_cluster.conf", node)
		if c.Instances[0].Priority != prio || !c.Instances[0].QuorumFence || c.Cluster.NodeName != node ||
			len(c.Cluster.Peers) != 2 || c.Cluster.BootstrapExpect != 3 || c.Cluster.API.Listen.Port() != 9900 ||
			c.Cluster.Credentials != "/etc/quadrature/credentials" || !slices.Equal(c.NodeNames, []string{"lb1", "lb2", "lb3"}) {
			t.Errorf("conditional %s: %+v %+v", node, c.Instances[0], c.Cluster)
		}
	}
}

// TestRealWorldKeepalivedAccepts runs keepalived -t on the samples that use
// only keywords keepalived 2.2 knows, so the corpus stays real keepalived
// syntax rather than what this parser happens to accept.
func TestRealWorldKeepalivedAccepts(t *testing.T) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("keepalived not installed (make deps)")
		}
		t.Skip("keepalived not installed")
	}
	check := func(name, path string) {
		out, err := exec.Command(bin, "-t", "-l", "-n", "-f", path).CombinedOutput()
		// Other messages keepalived prints for these files are about the
		// host (missing interfaces, script users), not syntax.
		var bad []string
		for _, l := range strings.Split(string(out), "\n") {
			for _, w := range []string{"Unknown keyword", "Unknown configuration entry", "Invalid", "invalid", "outside range"} {
				if strings.Contains(l, w) {
					bad = append(bad, l)
					break
				}
			}
		}
		if len(bad) > 0 {
			t.Errorf("keepalived -t %s (%v):\n%s", name, err, strings.Join(bad, "\n"))
		}
	}
	dir := t.TempDir()
	for _, name := range []string{"http_get_digest.conf", "fwmark_persistent.conf", "vs_group_ranges.conf", "ipv6_v3.conf",
		"misc_smtp_udp.conf", "sync_group.conf", "unicast_cloud.conf"} {
		abs, _ := filepath.Abs(filepath.Join("testdata/realworld", name))
		check(name, abs)
		// The canonical rendering of a plain keepalived.conf must be a
		// keepalived.conf too.
		cfg, _, err := Load(abs, LoadOptions{Node: "lb1", Resolver: Hosts{}})
		if err != nil {
			t.Fatal(err)
		}
		rendered := filepath.Join(dir, name)
		if err := os.WriteFile(rendered, cfg.Render(), 0o644); err != nil {
			t.Fatal(err)
		}
		check(name+" (rendered)", rendered)
	}
}
