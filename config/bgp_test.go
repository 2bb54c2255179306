package config

import (
	"strings"
	"testing"
	"time"
)

const bgpSample = `cluster {
  @lb1 bind 192.0.2.11
  @lb2 bind 192.0.2.12
  peers 192.0.2.11 192.0.2.12
  insecure yes
}
bgp {
  local_as 64512
  hold_time 9
  neighbor 192.0.2.1 {
    remote_as 64500
    password "s3cret pass"
    hold_time 3
  }
  neighbor 2001:db8::1 {
    remote_as 4200000000
    port 1179
    local_address 2001:db8::11
    multihop 2
  }
  announce {
    192.0.2.100 community 64512:100 no_export med 10
    2001:db8::100
    203.0.113.0/28 med 5
  }
}
virtual_server 192.0.2.100 80 {
  protocol TCP
  real_server 198.51.100.1 80 {
  }
}
virtual_server 2001:db8::100 80 {
  protocol TCP
  real_server 2001:db8:1::1 80 {
  }
}
`

func TestBGPDecode(t *testing.T) {
	cfg, warns, err := loadMem(t, memFS{"main.conf": bgpSample}, "lb1")
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.BGP
	if g == nil {
		t.Fatal("no bgp block in the model")
	}
	if g.LocalAS != 64512 || g.RouterID != mustAddr("192.0.2.11") || g.HoldTime != 9*time.Second || g.ListenPort != 0 {
		t.Fatalf("bgp globals: %+v", g)
	}
	if len(g.Neighbors) != 2 {
		t.Fatalf("neighbors: %+v", g.Neighbors)
	}
	n0, n1 := g.Neighbors[0], g.Neighbors[1]
	if n0.Address != mustAddr("192.0.2.1") || n0.RemoteAS != 64500 || n0.Password != "s3cret pass" || n0.HoldTime != 3*time.Second || n0.Port != 179 {
		t.Errorf("neighbor 0: %+v", n0)
	}
	if n1.RemoteAS != 4200000000 || n1.HoldTime != 9*time.Second || n1.Port != 1179 || n1.LocalAddress != mustAddr("2001:db8::11") || n1.Multihop != 2 {
		t.Errorf("neighbor 1 (inherits hold_time 9): %+v", n1)
	}
	if len(g.Announce) != 3 {
		t.Fatalf("announce: %+v", g.Announce)
	}
	a := g.Announce[0]
	if a.Prefix.String() != "192.0.2.100/32" || strings.Join(a.Communities, ",") != "64512:100,no_export" || a.MED == nil || *a.MED != 10 {
		t.Errorf("announce 0: %+v", a)
	}
	if g.Announce[1].Prefix.String() != "2001:db8::100/128" || g.Announce[1].MED != nil {
		t.Errorf("announce 1: %+v", g.Announce[1])
	}
	// 203.0.113.0/28 covers no virtual server: announced as written, with
	// a warning at its line.
	if w := diagLines(warns); !strings.Contains(w, "main.conf:24:") || !strings.Contains(w, "announce 203.0.113.0/28: no virtual_server address") {
		t.Errorf("warnings: %s", w)
	}
	// The second node's router ID follows its own bind address.
	cfg2, _, err := loadMem(t, memFS{"main.conf": bgpSample}, "lb2")
	if err != nil {
		t.Fatal(err)
	}
	if cfg2.BGP.RouterID != mustAddr("192.0.2.12") {
		t.Errorf("lb2 router_id = %s", cfg2.BGP.RouterID)
	}
	if v, ok := CommunityValue("64512:100"); !ok || v != 64512<<16|100 {
		t.Errorf("CommunityValue = %d %v", v, ok)
	}
}

// TestBGPRoundTrip: the rendered block (full and compact) loads back to the
// same model.
func TestBGPRoundTrip(t *testing.T) {
	cfg, _, err := loadMem(t, memFS{"main.conf": bgpSample}, "lb1")
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range [][]byte{cfg.Render(), cfg.RenderCompact()} {
		if !strings.Contains(string(text), "bgp {") {
			t.Fatalf("rendered text has no bgp block:\n%s", text)
		}
		back, _, err := LoadBytes("rendered.conf", text, LoadOptions{Node: "lb1"})
		if err != nil {
			t.Fatalf("rendered text does not load: %v\n%s", err, text)
		}
		if d := Diff(cfg, back); d != "" {
			t.Fatalf("round trip changed the model: %s\n%s", d, text)
		}
	}
}

func TestBGPErrors(t *testing.T) {
	nb := "neighbor 192.0.2.1 {\n remote_as 1\n }\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"no local_as", "bgp {\n router_id 192.0.2.1\n " + nb + "}\n", "main.conf:1: bgp: local_as is missing"},
		{"no router_id", "bgp {\n local_as 1\n " + nb + "}\n", "main.conf:1: bgp: router_id is missing"},
		{"ipv6 router_id", "bgp {\n local_as 1\n router_id 2001:db8::1\n " + nb + "}\n", "router_id 2001:db8::1 is not an IPv4 address"},
		{"no neighbor", "bgp {\n local_as 1\n router_id 192.0.2.1\n}\n", "main.conf:1: bgp: no neighbor"},
		{"bad as", "bgp {\n local_as 0\n router_id 192.0.2.1\n " + nb + "}\n", `main.conf:2: local_as: "0" is not an AS number`},
		{"as too big", "bgp {\n local_as 4294967296\n router_id 192.0.2.1\n " + nb + "}\n", "main.conf:2: local_as"},
		{"hold time 2", "bgp {\n local_as 1\n router_id 192.0.2.1\n hold_time 2\n " + nb + "}\n", `main.conf:4: hold_time: "2" is not a hold time`},
		{"no remote_as", "bgp {\n local_as 1\n router_id 192.0.2.1\n neighbor 192.0.2.1 {\n password x\n }\n}\n", "main.conf:4: neighbor 192.0.2.1: remote_as is missing"},
		{"dup neighbor", "bgp {\n local_as 1\n router_id 192.0.2.1\n " + nb + " " + nb + "}\n", "main.conf:7: duplicate neighbor 192.0.2.1 (first at main.conf:4)"},
		{"bad neighbor", "bgp {\n local_as 1\n router_id 192.0.2.1\n neighbor router1 {\n remote_as 1\n }\n}\n", `main.conf:4: neighbor: "router1" is not an IP address`},
		{"neighbor without block", "bgp {\n local_as 1\n router_id 192.0.2.1\n neighbor 192.0.2.1\n}\n", "main.conf:4: neighbor needs a block"},
		{"family mismatch", "bgp {\n local_as 1\n router_id 192.0.2.1\n neighbor 192.0.2.1 {\n remote_as 1\n local_address 2001:db8::1\n }\n}\n", "local_address 2001:db8::1 is of another address family"},
		{"unknown neighbor keyword", "bgp {\n local_as 1\n router_id 192.0.2.1\n neighbor 192.0.2.1 {\n remote_as 1\n weight 3\n }\n}\n", "main.conf:6: unknown keyword \"weight\""},
		{"bad prefix", "bgp {\n local_as 1\n router_id 192.0.2.1\n " + nb + " announce {\n 192.0.2.300\n }\n}\n", `main.conf:8: announce: "192.0.2.300" is not an IP address or prefix`},
		{"host bits", "bgp {\n local_as 1\n router_id 192.0.2.1\n " + nb + " announce {\n 192.0.2.1/24\n }\n}\n", "192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)"},
		{"bad community", "bgp {\n local_as 1\n router_id 192.0.2.1\n " + nb + " announce {\n 192.0.2.1 community 70000:1\n }\n}\n", `main.conf:8: announce 192.0.2.1/32: community "70000:1"`},
		{"empty community", "bgp {\n local_as 1\n router_id 192.0.2.1\n " + nb + " announce {\n 192.0.2.1 community med 3\n }\n}\n", "community needs at least one value"},
		{"bad med", "bgp {\n local_as 1\n router_id 192.0.2.1\n " + nb + " announce {\n 192.0.2.1 med -1\n }\n}\n", `med "-1" is not a number`},
		{"med without value", "bgp {\n local_as 1\n router_id 192.0.2.1\n " + nb + " announce {\n 192.0.2.1 med\n }\n}\n", "med needs a value"},
		{"unknown option", "bgp {\n local_as 1\n router_id 192.0.2.1\n " + nb + " announce {\n 192.0.2.1 localpref 3\n }\n}\n", `unknown option "localpref"`},
		{"dup announce", "bgp {\n local_as 1\n router_id 192.0.2.1\n " + nb + " announce {\n 192.0.2.1\n 192.0.2.1/32\n }\n}\n", "main.conf:9: announce: 192.0.2.1/32 is listed twice (first at main.conf:8)"},
		{"dup block", "bgp {\n local_as 1\n router_id 192.0.2.1\n " + nb + "}\nbgp {\n}\n", "main.conf:8: duplicate bgp block (first at main.conf:1)"},
		{"named block", "bgp up {\n local_as 1\n router_id 192.0.2.1\n " + nb + "}\n", "main.conf:1: bgp takes no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loadMem(t, memFS{"main.conf": tc.src}, "n")
			if err == nil {
				t.Fatalf("loaded without error:\n%s", tc.src)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestBGPWarnings(t *testing.T) {
	src := "bgp {\n local_as 1\n router_id 192.0.2.1\n neighbor 192.0.2.1 {\n remote_as 2\n bfd\n }\n announce {\n 2001:db8::5\n }\n}\n"
	cfg, warns, err := loadMem(t, memFS{"main.conf": src}, "n")
	if err != nil {
		t.Fatal(err)
	}
	w := diagLines(warns)
	for _, want := range []string{"main.conf:6: warning: bfd: not applied", "main.conf:9: warning: announce 2001:db8::5/128: no neighbor of that address family"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if !cfg.BGP.Neighbors[0].BFD {
		t.Error("bfd not kept in the model")
	}
}

// FuzzBGP decodes arbitrary bgp block bodies: no panic, every error has a
// position, and what loads renders back to an equal model.
func FuzzBGP(f *testing.F) {
	for _, s := range []string{
		"local_as 1\nrouter_id 192.0.2.1\nneighbor 192.0.2.2 {\nremote_as 2\n}\n",
		"local_as 1.1\nrouter_id 192.0.2.1\nhold_time 0\nlisten_port 179\nneighbor 2001:db8::2 {\nremote_as 2\npassword \"p w\"\nhold_time 3\nport 1179\nlocal_address 2001:db8::1\nmultihop 255\nbfd no\n}\n" +
			"announce {\n192.0.2.100 community 1:1 2:2 no_advertise med 0\n2001:db8::/32 med 7 community no_export_subconfed\n}\n",
		"local_as 1\nrouter_id 192.0.2.1\nneighbor 192.0.2.2 {\nremote_as 2\n}\nannounce {\n::ffff:192.0.2.1\n192.0.2.0/33\n}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		src := "bgp {\n" + body + "\n}\nvirtual_server 192.0.2.100 80 {\n protocol TCP\n}\n"
		cfg, _, err := loadMem(t, memFS{"main.conf": src}, "n")
		if err != nil {
			for _, d := range err.(ErrorList) {
				if d.Pos.File == "" || d.Pos.Line < 1 {
					t.Fatalf("error without position: %q", d.Msg)
				}
			}
			return
		}
		for _, text := range [][]byte{cfg.Render(), cfg.RenderCompact()} {
			back, _, err := LoadBytes("rendered.conf", text, LoadOptions{Node: "n"})
			if err != nil {
				t.Fatalf("rendered text does not load: %v\n%s", err, text)
			}
			if d := Diff(cfg, back); d != "" {
				t.Fatalf("round trip changed the model: %s\n%s", d, text)
			}
		}
	})
}
