package config

import (
	"strings"
	"testing"
	"time"
)

const notifyConf = `global_defs {
  startup_script "/bin/echo up" nobody nogroup
  startup_script_timeout 3
  shutdown_script /bin/true
  notify_fifo /run/q.fifo
  notify_fifo_script /usr/bin/reader
}
vrrp_sync_group G {
  group {
    A
  }
  notify_priority_changes
}
vrrp_instance A {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    192.0.2.1
  }
}
vrrp_instance B {
  interface eth0
  virtual_router_id 2
  notify_priority_changes
  virtual_ipaddress {
    192.0.2.2
  }
}
vrrp_instance C {
  interface eth0
  virtual_router_id 3
  virtual_ipaddress {
    192.0.2.3
  }
}
`

func TestNotifyKeywords(t *testing.T) {
	cfg, _, err := LoadBytes("n.conf", []byte(notifyConf), LoadOptions{Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Global
	if g.StartupScript != "/bin/echo up" || g.StartupScriptUser != "nobody:nogroup" || g.StartupTimeout() != 3*time.Second {
		t.Errorf("startup script: %+v", g.GlobalScripts)
	}
	if g.ShutdownScript != "/bin/true" || g.ShutdownTimeout() != DefaultScriptTimeout {
		t.Errorf("shutdown script: %+v", g.GlobalScripts)
	}
	want := map[string]bool{"A": true, "B": true, "C": false}
	for _, in := range cfg.Instances {
		if in.PriorityChanges != want[in.Name] {
			t.Errorf("%s: notify_priority_changes %v, want %v", in.Name, in.PriorityChanges, want[in.Name])
		}
	}
	for _, text := range [][]byte{cfg.Render(), cfg.RenderCompact()} {
		back, _, err := LoadBytes("r.conf", text, LoadOptions{Node: "n"})
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		if d := Diff(cfg, back); d != "" {
			t.Fatalf("round trip: %s\n%s", d, text)
		}
	}
}

func TestNotifyKeywordErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"global_defs {\n startup_script_timeout 0\n}\n", "e.conf:2:"},
		{"global_defs {\n shutdown_script_timeout 1001\n}\n", "e.conf:2:"},
		{"global_defs {\n startup_script\n}\n", "e.conf:2:"},
		{"global_defs {\n shutdown_script \"\"\n}\n", "e.conf:2: shutdown_script: empty command line"},
		{"vrrp_instance V {\n interface eth0\n virtual_router_id 1\n notify_priority_changes maybe\n}\n", "e.conf:4:"},
	} {
		_, _, err := LoadBytes("e.conf", []byte(tc.src), LoadOptions{Node: "n"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

// FuzzNotifyKeywords loads global_defs and instance text built around the
// notification keywords and checks positions and the render round trip.
func FuzzNotifyKeywords(f *testing.F) {
	f.Add(notifyConf)
	f.Add("global_defs {\n startup_script x a b c\n shutdown_script_timeout 1.5\n vrrp_notify_priority_changes off\n}\n")
	f.Add("vrrp_sync_group G {\n group { V }\n notify_priority_changes no\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n notify_priority_changes false\n}\n")
	f.Add("virtual_server 192.0.2.1 25 {\n protocol TCP\n real_server 198.51.100.1 25 {\n SMTP_CHECK {\n host {\n connect_port 2525\n warmup 0\n }\n host {\n connect_ip 198.51.100.2\n }\n }\n }\n}\n")
	f.Fuzz(func(t *testing.T, src string) {
		cfg, _, err := LoadBytes("f.conf", []byte(src), LoadOptions{Node: "n"})
		if err != nil {
			for _, d := range err.(ErrorList) {
				if d.Pos.File == "" || d.Pos.Line < 1 {
					t.Fatalf("error without position: %q", d.Msg)
				}
			}
			return
		}
		text := cfg.Render()
		back, _, err := LoadBytes("r.conf", text, LoadOptions{Node: "n"})
		if err != nil {
			t.Fatalf("rendered text does not load: %v\n%s", err, text)
		}
		if d := Diff(cfg, back); d != "" {
			t.Fatalf("round trip: %s\n%s", d, text)
		}
	})
}
