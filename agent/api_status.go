package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"quadrature/api"
	"quadrature/cluster"
)

// The reasons the status page and `quadrature status` show next to a
// degraded or fenced node and a member that is not alive: what is wrong,
// for how long, and what the node does about it.

// explainStatus fills the desired table digest and the reasons of out.
func (b *APIBackend) explainStatus(out *api.Status, n *cluster.Node, s cluster.Stats) {
	a := b.Agent
	if a.role == cluster.RoleVoter {
		out.DesiredDigest = a.desiredDigest()
	}
	now := time.Now()
	if s.Degraded {
		out.DegradedReason = degradedReason(s.DegradedSince, n.DegradedAfter(), now)
	}
	if out.Fenced {
		out.FencedReason = fencedReason(s.QuorumLostSince, n.LeaderLease(), a.fencedInstances(), now)
	}
}

func degradedReason(since time.Time, after time.Duration, now time.Time) string {
	return fmt.Sprintf("no contact with a Raft leader for %s (degraded_after %s): this node programs its table "+
		"from its own checkers' verdicts, and changes made on the group do not reach it", ago(since, now), after)
}

func fencedReason(since time.Time, lease time.Duration, instances []string, now time.Time) string {
	what := "its quorum_fence VRRP instances are in FAULT and hold no VIP"
	if len(instances) > 0 {
		what = "quorum_fence instance" + plural(len(instances)) + " " + strings.Join(instances, ", ") +
			" in FAULT, holding no VIP"
	}
	return fmt.Sprintf("no contact with a Raft quorum for %s (leader lease %s): %s", ago(since, now), lease, what)
}

// memberReason says why m is not alive ("" when it is). peers is the
// leader's view of its followers (nil on other nodes).
func memberReason(m cluster.Member, peers []cluster.PeerReplication, now time.Time) string {
	var r string
	switch m.State {
	case cluster.MemberAlive:
		return ""
	case cluster.MemberDead:
		r = "gossip: stopped answering probes " + ago(m.Since, now) + " ago"
	case cluster.MemberLeft:
		r = "left the group " + ago(m.Since, now) + " ago"
	case cluster.MemberUnknown:
		r = "in the Raft configuration, never seen by gossip"
	default:
		r = "gossip state " + string(m.State)
	}
	for _, p := range peers {
		if p.ID != m.Name {
			continue
		}
		if p.LastContact.IsZero() {
			r += "; it has never answered this node as Raft leader"
		} else {
			r += fmt.Sprintf("; last answered the Raft leader %s ago, %d log entries behind", ago(p.LastContact, now), p.LagEntries)
		}
	}
	return r
}

// fencedInstances lists the instances fencing holds in FAULT, sorted.
func (a *Agent) fencedInstances() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for name, f := range a.fenced {
		if f {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// ago is now - t rounded for a person: "850ms", "12s", "3m4s"; "an
// unknown time" when t is zero.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		d = 0
	case d < time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
