package config

import "math"

// Decoding of vrrp_track_process blocks and of the track_file and
// track_process blocks of vrrp_instance and vrrp_sync_group.

func (d *decoder) addTrackProcess(s *Stmt) {
	tp, ok := d.trackProcessBlock(s)
	if !ok {
		return
	}
	if o := d.cfg.processTracker(tp.Name); o != nil {
		d.errorf(s.Pos, "duplicate vrrp_track_process %s (first at %s)", tp.Name, o.Pos)
		return
	}
	d.cfg.ProcessTrackers = append(d.cfg.ProcessTrackers, tp)
}

func (d *decoder) trackProcessBlock(b *Stmt) (TrackProcess, bool) {
	name, ok := d.blockName(b)
	if !ok {
		return TrackProcess{}, false
	}
	tp := TrackProcess{Pos: b.Pos, Name: name, Weight: 1, Quorum: 1}
	d.run(b.Block, "vrrp_track_process", table{
		"process": func(s *Stmt) {
			if !d.nargs(s, 1, 1000) {
				return
			}
			a := s.ArgStrings()
			tp.Process, tp.Params = a[0], a[1:]
		},
		"param_match": func(s *Stmt) {
			tp.ParamMatchSet = true
			if len(s.Args) > 0 {
				d.enum(s, &tp.ParamMatch, "initial", "partial")
			}
		},
		"full_command": func(s *Stmt) { d.flag(s, &tp.FullCommand) },
		"weight": func(s *Stmt) {
			if !d.nargs(s, 1, 2) {
				return
			}
			if v, ok := d.intArg(s, s.Args[0].Text, -254, 254); ok {
				tp.Weight = v
			}
			if len(s.Args) == 2 {
				d.reverse(s, s.Args[1].Text, &tp.Reverse)
			}
		},
		"quorum": func(s *Stmt) { d.integer(s, &tp.Quorum, 0, math.MaxInt32) },
		"quorum_max": func(s *Stmt) {
			v := -1
			d.integer(s, &v, 0, math.MaxInt32)
			if v >= 0 {
				tp.QuorumMax = &v
			}
		},
		"fork_delay":      func(s *Stmt) { d.seconds(s, &tp.ForkDelay, 0, 3600) },
		"terminate_delay": func(s *Stmt) { d.seconds(s, &tp.TerminateDelay, 0, 3600) },
		"delay": func(s *Stmt) {
			d.seconds(s, &tp.ForkDelay, 0, 3600)
			tp.TerminateDelay = tp.ForkDelay
		},
	})
	if tp.Process == "" {
		d.errorf(b.Pos, "vrrp_track_process %s has no process", name)
		return tp, false
	}
	if tp.QuorumMax != nil && *tp.QuorumMax < tp.Quorum {
		d.errorf(b.Pos, "vrrp_track_process %s: quorum_max %d is below quorum %d", name, *tp.QuorumMax, tp.Quorum)
		return tp, false
	}
	return tp, true
}

// trackFileRefs parses the track_file block of an instance or a group.
func (d *decoder) trackFileRefs(b *Stmt) []TrackRef {
	return d.trackRefs(b, "track_file", func(name string) (int, bool, bool) {
		if tf := d.cfg.trackFile(name); tf != nil {
			return tf.Weight, tf.Reverse, true
		}
		return 0, false, false
	})
}

// trackProcessRefs parses the track_process block of an instance or a
// group.
func (d *decoder) trackProcessRefs(b *Stmt) []TrackRef {
	return d.trackRefs(b, "track_process", func(name string) (int, bool, bool) {
		if tp := d.cfg.processTracker(name); tp != nil {
			return tp.Weight, tp.Reverse, true
		}
		return 0, false, false
	})
}

func (d *decoder) trackRefs(b *Stmt, kw string, lookup func(string) (int, bool, bool)) []TrackRef {
	if !d.needBlock(b) {
		return nil
	}
	var out []TrackRef
	for _, s := range b.Block {
		w, rev, ok := lookup(s.Key)
		if !ok {
			def := "track_file"
			if kw == "track_process" {
				def = "vrrp_track_process"
			}
			d.errorf(s.Pos, "%s: no %s named %q", kw, def, s.Key)
			continue
		}
		t := TrackRef{Pos: s.Pos, Name: s.Key, Weight: w, Reverse: rev}
		if len(s.Args) > 0 {
			t.Reverse = false
		}
		if !d.weightOpts(s, &t.Weight, &t.Reverse, -254, 254) {
			continue
		}
		out = append(out, t)
	}
	return out
}
