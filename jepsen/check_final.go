package jepsen

import (
	"fmt"
	"sort"
	"strings"

	"quadrature/api"
)

// NodeView is one node's answers after the final heal.
type NodeView struct {
	Name   string
	Status api.Status
	Err    string // /v1/status failed
	Ready  bool   // /readyz: the kernel table matches the committed state
	Reason string // why not ready
}

// Final is one observation of the whole group after the final heal.
type Final struct {
	Nodes []NodeView
	// Holders lists, per VRRP instance, the namespaces holding its VIP.
	Holders map[string][]string
	// HTTP is, per VIP target, the answer of one request through it from
	// the client ("served by nX") or the error.
	HTTP map[string]string
	// HTTPOK says whether that request succeeded.
	HTTPOK map[string]bool
}

// CheckConvergence checks one final observation: every node answers,
// knows the same leader, has applied the same config_version, reports
// the same kernel table digest, is ready, neither degraded nor fenced;
// every instance has exactly one VIP holder; a request through every VIP
// succeeds. The runner polls it until it passes or the bound expires and
// reports the last verdict.
func CheckConvergence(f Final) Result {
	r := Result{Name: "convergence after the final heal"}
	if len(f.Nodes) == 0 {
		r.violate("no node observed")
		return r
	}
	var ref *NodeView
	for i := range f.Nodes {
		n := &f.Nodes[i]
		if n.Err != "" {
			r.violate("%s does not answer: %s", n.Name, n.Err)
			continue
		}
		if ref == nil {
			ref = n
		}
		s := n.Status
		switch {
		case s.Leader == "":
			r.violate("%s knows no leader", n.Name)
		case s.Leader != ref.Status.Leader:
			r.violate("%s sees leader %s, %s sees %s", n.Name, s.Leader, ref.Name, ref.Status.Leader)
		}
		if s.ConfigVersion == 0 || s.ConfigVersion != ref.Status.ConfigVersion {
			r.violate("%s config_version %d, %s %d", n.Name, s.ConfigVersion, ref.Name, ref.Status.ConfigVersion)
		}
		if s.TableDigest == "" || s.TableDigest != ref.Status.TableDigest {
			r.violate("%s table digest %.12q, %s %.12q", n.Name, s.TableDigest, ref.Name, ref.Status.TableDigest)
		}
		if !n.Ready {
			r.violate("%s not ready: %s", n.Name, n.Reason)
		}
		if s.Degraded {
			r.violate("%s still degraded", n.Name)
		}
		if s.Fenced {
			r.violate("%s still fenced", n.Name)
		}
	}
	insts := make([]string, 0, len(f.Holders))
	for in := range f.Holders {
		insts = append(insts, in)
	}
	sort.Strings(insts)
	if len(insts) == 0 {
		r.violate("no VRRP instance observed")
	}
	for _, in := range insts {
		if h := f.Holders[in]; len(h) != 1 {
			r.violate("instance %s: %d VIP holders %v, want exactly one", in, len(h), h)
		}
	}
	targets := make([]string, 0, len(f.HTTP))
	for t := range f.HTTP {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		if !f.HTTPOK[t] {
			r.violate("request through %s failed: %s", t, f.HTTP[t])
		}
	}
	if ref != nil && r.OK() {
		var hs []string
		for _, in := range insts {
			hs = append(hs, fmt.Sprintf("%s on %s", in, strings.Join(f.Holders[in], ",")))
		}
		r.note("leader %s, config_version %d, digest %.12s, %s", ref.Status.Leader, ref.Status.ConfigVersion, ref.Status.TableDigest, strings.Join(hs, ", "))
	}
	return r
}

// CheckDrain checks the drain register of one real server, a
// last-write-wins register written blindly by drain and undrain: the
// final drained flag on every node must be the value of a write that can
// be the last one — a write that no acknowledged write followed in real
// time (an indeterminate write may land at any time after its
// invocation) — or the initial value when no write was acknowledged or
// may have happened.
func CheckDrain(initial bool, ops []Op, final map[string]bool) Result {
	r := Result{Name: "drain state is the last acknowledged drain/undrain"}
	var writes []Op
	for _, o := range ops {
		if (o.Kind == KindDrain || o.Kind == KindUndrain) && o.Type != Fail {
			writes = append(writes, o)
		}
	}
	possible := map[bool]bool{}
	anyAck := false
	for _, w := range writes {
		if w.Type == OK {
			anyAck = true
		}
	}
	if !anyAck {
		possible[initial] = true
	}
	for _, w := range writes {
		last := true
		if w.Type == OK {
			for _, x := range writes {
				if x.Type == OK && x.Start > w.End {
					last = false
					break
				}
			}
		}
		if last {
			possible[w.Kind == KindDrain] = true
		}
	}
	if len(final) == 0 {
		r.violate("no final drain state was read")
	}
	nodes := make([]string, 0, len(final))
	for n := range final {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		if !possible[final[n]] {
			var lastAck Op
			for _, w := range writes {
				if w.Type == OK && w.End > lastAck.End {
					lastAck = w
				}
			}
			r.violate("%s shows drained=%v, which no write that can be the last one wrote (last acknowledged: %s)", n, final[n], lastAck)
		}
	}
	acked, info := 0, 0
	for _, w := range writes {
		if w.Type == OK {
			acked++
		} else {
			info++
		}
	}
	r.note("%d acknowledged and %d indeterminate drain/undrain writes; final %v", acked, info, final)
	return r
}
