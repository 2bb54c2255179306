package vrrp

import "fmt"

// SetFenced holds an instance in FAULT (fenced) or releases it. The
// agent fences quorum_fence instances while the node has no
// quorum contact (docs/design.md, decision 5): a fenced master sends priority 0
// and removes its VIPs, so a partition never yields two masters. The
// fence survives Update for instances that keep their identity.
func (n *Node) SetFenced(instance string, fenced bool) error {
	return n.call(func() error {
		inst := n.insts[instance]
		if inst == nil || inst.closed {
			return fmt.Errorf("vrrp: no instance %q", instance)
		}
		if inst.fenced == fenced {
			return nil
		}
		inst.fenced = fenced
		if n.running && !n.stopped {
			n.evaluate(inst)
			n.syncGroupsLevel()
		}
		return nil
	})
}
