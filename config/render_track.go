package config

import "strings"

func (w *writer) trackRefs(files, procs []TrackRef) {
	for _, blk := range []struct {
		kw   string
		refs []TrackRef
	}{{"track_file", files}, {"track_process", procs}} {
		if len(blk.refs) == 0 {
			continue
		}
		w.open(blk.kw)
		for _, t := range blk.refs {
			w.line("%s weight %d%s", quote(t.Name), t.Weight, reverseSuffix(t.Reverse))
		}
		w.close()
	}
}

func (w *writer) trackProcess(t *TrackProcess) {
	w.open("vrrp_track_process %s", quote(t.Name))
	words := []string{quote(t.Process)}
	for _, p := range t.Params {
		words = append(words, quote(p))
	}
	w.line("process %s", strings.Join(words, " "))
	if t.ParamMatchSet {
		if t.ParamMatch != "" {
			w.line("param_match %s", t.ParamMatch)
		} else {
			w.line("param_match")
		}
	}
	if t.FullCommand {
		w.line("full_command")
	}
	if !w.compact || t.Weight != 1 || t.Reverse {
		w.line("weight %d%s", t.Weight, reverseSuffix(t.Reverse))
	}
	if !w.compact || t.Quorum != 1 {
		w.line("quorum %d", t.Quorum)
	}
	if t.QuorumMax != nil {
		w.line("quorum_max %d", *t.QuorumMax)
	}
	if !w.compact || t.ForkDelay != 0 {
		w.line("fork_delay %s", seconds(t.ForkDelay))
	}
	if !w.compact || t.TerminateDelay != 0 {
		w.line("terminate_delay %s", seconds(t.TerminateDelay))
	}
	w.close()
}
