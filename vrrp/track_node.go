package vrrp

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The Node's side of track_file and track_process: the watchers run on
// their own goroutines and post what they see to the event goroutine,
// which keeps the values, runs the process delays and re-evaluates the
// instances.

// trackOptions are test hooks of the process monitor.
type trackOptions struct {
	procRoot    string // default /proc
	noConnector bool   // poll /proc instead of the proc connector
}

// WithProcPolling makes track_process scan /proc every second instead
// of listening to the kernel's proc connector (what the node falls back
// to when the connector is not available).
func WithProcPolling() Option { return func(o *options) { o.track.noConnector = true } }

// trackers is the event goroutine's state of the file and process
// trackers.
type trackers struct {
	// fileGen and procGen are bumped at every restart: the reports of
	// an old watcher are dropped.
	fileGen, procGen int

	files    []TrackFileConfig
	fileW    *fileWatcher
	fileVals map[string]int64

	procs     []TrackProcessConfig
	procM     *procMonitor
	procCount map[string]int
	procDelay map[string]*ProcessDelay
	procTimer map[string]*time.Timer
	procUp    map[string]bool
}

// startTrackers (re)starts the watchers whose definitions changed.
func (n *Node) startTrackers(cfg NodeConfig) {
	t := &n.trk
	if t.fileVals == nil || !slices.Equal(t.files, cfg.Files) {
		t.fileW.close()
		t.fileGen++
		gen := t.fileGen
		t.files = slices.Clone(cfg.Files)
		w, vals, err := startFileWatcher(t.files, n.log, func(name string, v int64) {
			n.post(func() {
				if n.trk.fileGen == gen && !n.stopped {
					n.fileChanged(name, v)
				}
			})
		})
		if err != nil {
			n.log.Error("track_file: files are not watched", "err", err)
		}
		t.fileW, t.fileVals = w, vals
	}
	if t.procUp == nil || !reflect.DeepEqual(t.procs, cfg.Processes) {
		n.stopProcs()
		gen := t.procGen
		t.procs = slices.Clone(cfg.Processes)
		root := n.opts.track.procRoot
		if root == "" {
			root = "/proc"
		}
		m, counts := startProcMonitor(t.procs, root, n.opts.track.noConnector, n.log, func(c map[string]int) {
			n.post(func() {
				if n.trk.procGen == gen && !n.stopped {
					n.procCounts(c)
				}
			})
		})
		t.procM, t.procCount = m, counts
		t.procDelay, t.procTimer, t.procUp = map[string]*ProcessDelay{}, map[string]*time.Timer{}, map[string]bool{}
		now := n.opts.now()
		for _, p := range t.procs {
			up := p.QuorumOK(counts[p.Name])
			d := NewProcessDelay(up, now)
			t.procDelay[p.Name], t.procUp[p.Name] = &d, up
			n.log.Info("track_process", "track_process", p.Name, "process", p.Process, "running", counts[p.Name], "quorum_ok", up)
		}
	}
}

func (n *Node) stopProcs() {
	t := &n.trk
	t.procGen++
	t.procM.close()
	t.procM = nil
	for _, tm := range t.procTimer {
		tm.Stop()
	}
}

func (n *Node) stopTrackers() {
	n.trk.fileGen++
	n.trk.fileW.close()
	n.trk.fileW = nil
	n.stopProcs()
}

func (n *Node) fileChanged(name string, v int64) {
	if old, ok := n.trk.fileVals[name]; ok && old == v {
		return
	}
	n.trk.fileVals[name] = v
	n.log.Info("track_file value changed", "track_file", name, "value", v)
	n.evaluateAll()
}

func (n *Node) procCounts(c map[string]int) {
	t := &n.trk
	for name, cnt := range c {
		if t.procCount[name] != cnt {
			n.log.Info("track_process count changed", "track_process", name, "running", cnt)
		}
		t.procCount[name] = cnt
	}
	n.procStep()
}

// procStep feeds the counts to the delays, arms the timers of running
// delays and re-evaluates when a reported state changed.
func (n *Node) procStep() {
	t := &n.trk
	now := n.opts.now()
	changed := false
	for _, p := range t.procs {
		d := t.procDelay[p.Name]
		ch, wake := d.Observe(now, p.QuorumOK(t.procCount[p.Name]), p.ForkDelay, p.TerminateDelay)
		if tm := t.procTimer[p.Name]; tm != nil {
			tm.Stop()
			delete(t.procTimer, p.Name)
		}
		if !wake.IsZero() {
			gen := t.procGen
			t.procTimer[p.Name] = time.AfterFunc(wake.Sub(now), func() {
				n.post(func() {
					if n.trk.procGen == gen && !n.stopped {
						n.procStep()
					}
				})
			})
		}
		if ch {
			changed = true
			t.procUp[p.Name] = d.Up
			n.log.Info("track_process state changed", "track_process", p.Name, "quorum_ok", d.Up, "running", t.procCount[p.Name])
		}
	}
	if changed {
		n.evaluateAll()
	}
}

func weightsText(ws []TrackWeight) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%s %s %+d", w.Tracker, w.Name, w.Delta)
	}
	return strings.Join(parts, ", ")
}

func faultsText(fs []TrackFault) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Tracker.String() + " " + f.Name
	}
	return strings.Join(parts, ", ")
}
