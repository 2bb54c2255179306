package config

import (
	"strings"
	"testing"
)

const trackConf = `vrrp_track_file maint {
 file /run/q/maint
 weight -2 reverse
 init_file 5 overwrite
}
vrrp_track_process web {
 process /usr/sbin/nginx -g "daemon off;"
 param_match partial
 weight 10
 quorum 2
 quorum_max 4
 delay 0.5
}
vrrp_instance VI {
 interface eth0
 virtual_router_id 7
 priority 100
 virtual_ipaddress {
  192.0.2.100
 }
 track_file {
  maint
  maint weight 3
 }
 track_process {
  web weight -20 reverse
 }
}
vrrp_sync_group G {
 group {
  VI
 }
 track_process {
  web
 }
}
`

func TestTrackFileAndProcessDecode(t *testing.T) {
	c, _, err := loadMem(t, memFS{"main.conf": trackConf}, "n")
	if err != nil {
		t.Fatal(err)
	}
	in := c.Instances[0]
	if len(in.TrackFileRefs) != 2 || in.TrackFileRefs[0] != (TrackRef{Pos: in.TrackFileRefs[0].Pos, Name: "maint", Weight: -2, Reverse: true}) ||
		in.TrackFileRefs[1].Weight != 3 || in.TrackFileRefs[1].Reverse {
		t.Errorf("track_file refs %+v", in.TrackFileRefs)
	}
	p := c.ProcessTrackers[0]
	if p.Process != "/usr/sbin/nginx" || strings.Join(p.Params, "|") != "-g|daemon off;" || p.ParamMatch != "partial" || p.Quorum != 2 ||
		*p.QuorumMax != 4 || p.ForkDelay.Milliseconds() != 500 || p.TerminateDelay.Milliseconds() != 500 || p.Weight != 10 {
		t.Errorf("vrrp_track_process %+v", p)
	}
	if r := in.TrackProcesses[0]; r.Weight != -20 || !r.Reverse {
		t.Errorf("track_process ref %+v", r)
	}
	if r := c.SyncGroups[0].TrackProcesses[0]; r.Weight != 10 {
		t.Errorf("group ref %+v", r)
	}
	// Render and load back: the same model.
	back, _, err := loadMem(t, memFS{"main.conf": string(c.Render())}, "n")
	if err != nil {
		t.Fatalf("%v\n%s", err, c.Render())
	}
	if !Equal(c, back) {
		t.Errorf("render round trip differs:\n%s", c.Render())
	}
}

func TestTrackErrors(t *testing.T) {
	for _, c := range []struct{ conf, want string }{
		{strings.Replace(trackConf, "  maint weight 3\n", "  nosuch\n", 1), `main.conf:23: track_file: no track_file named "nosuch"`},
		{strings.Replace(trackConf, "  web weight -20 reverse", "  web weight 300", 1), "main.conf:26: web 300 out of range"},
		{strings.Replace(trackConf, " quorum_max 4", " quorum_max 1", 1), "main.conf:6: vrrp_track_process web: quorum_max 1 is below quorum 2"},
		{strings.Replace(trackConf, " process /usr/sbin/nginx -g \"daemon off;\"\n", "", 1), "vrrp_track_process web has no process"},
		{strings.Replace(trackConf, "param_match partial", "param_match full", 1), "main.conf:8: param_match"},
	} {
		_, _, err := loadMem(t, memFS{"main.conf": c.conf}, "n")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
}
