package agent

import (
	"math"

	"quadrature/config"
	"quadrature/vrrp"
)

// vrrpTrackers returns the track_file definitions the VRRP instances and
// groups name (those only FILE_CHECK uses stay with the checkers) and the
// vrrp_track_process definitions.
func vrrpTrackers(c *config.Config) ([]vrrp.TrackFileConfig, []vrrp.TrackProcessConfig) {
	used := map[string]bool{}
	for _, in := range c.Instances {
		for _, t := range in.TrackFileRefs {
			used[t.Name] = true
		}
	}
	for _, g := range c.SyncGroups {
		for _, t := range g.TrackFileRefs {
			used[t.Name] = true
		}
	}
	var files []vrrp.TrackFileConfig
	for _, f := range c.TrackFiles {
		if used[f.Name] {
			files = append(files, vrrp.TrackFileConfig{Name: f.Name, Path: f.File, Weight: f.Weight, Reverse: f.Reverse,
				InitFile: f.InitFile, InitValue: int64(f.InitValue), InitOverwrite: f.InitOverwrite})
		}
	}
	var procs []vrrp.TrackProcessConfig
	for _, p := range c.ProcessTrackers {
		pc := vrrp.TrackProcessConfig{Name: p.Name, Process: p.Process, Params: append([]string(nil), p.Params...),
			FullCommand: p.FullCommand, Weight: p.Weight, Reverse: p.Reverse, Quorum: p.Quorum, QuorumMax: math.MaxInt,
			ForkDelay: p.ForkDelay, TerminateDelay: p.TerminateDelay}
		if p.QuorumMax != nil {
			pc.QuorumMax = *p.QuorumMax
		}
		switch {
		case p.ParamMatch == "initial":
			pc.ParamMatch = vrrp.ParamInitial
		case p.ParamMatch == "partial":
			pc.ParamMatch = vrrp.ParamPartial
		case p.ParamMatchSet || len(p.Params) > 0:
			pc.ParamMatch = vrrp.ParamExact
		}
		procs = append(procs, pc)
	}
	return files, procs
}

func trackRefs(in []config.TrackRef) []vrrp.TrackRef {
	var out []vrrp.TrackRef
	for _, t := range in {
		out = append(out, vrrp.TrackRef{Name: t.Name, Weight: t.Weight, Reverse: t.Reverse})
	}
	return out
}
