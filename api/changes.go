package api

// ConfigChanges summarizes what a candidate configuration changes against
// the running one (POST /v1/config/validate): VRRP instances by name and
// virtual servers by ID (as in VirtualService.ID), over every node the
// configurations are evaluated for. A name is "changed" when its block
// differs for at least one node (including being present on one node
// but not another).
type ConfigChanges struct {
	InstancesAdded        []string `json:"instances_added"`
	InstancesRemoved      []string `json:"instances_removed"`
	InstancesChanged      []string `json:"instances_changed"`
	VirtualServersAdded   []string `json:"virtual_servers_added"`
	VirtualServersRemoved []string `json:"virtual_servers_removed"`
	VirtualServersChanged []string `json:"virtual_servers_changed"`
}

// Empty reports whether nothing was added, removed or changed.
func (c *ConfigChanges) Empty() bool {
	return c == nil || len(c.InstancesAdded)+len(c.InstancesRemoved)+len(c.InstancesChanged)+
		len(c.VirtualServersAdded)+len(c.VirtualServersRemoved)+len(c.VirtualServersChanged) == 0
}
