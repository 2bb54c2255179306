package jepsen

import (
	"fmt"
	"net/netip"
	"strings"

	"quadrature/internal/clustertest"
)

// The group runs two VRRP instances side by side, so one run shows both
// fencing choices of decision 5 (docs/design.md) under the same faults:
//   - AvailInstance (clustertest's "vi1", VIP 203.0.113.10, VRID 51,
//     n1 preferred): the default availability semantics;
//   - FencedInstance ("vf1", VIP 203.0.113.9, VRID 52, quorum_fence, the
//     last node preferred, so the two VIPs usually live on different
//     nodes).
//
// Each VIP fronts a NAT virtual service on port 80 over every node's
// application server. The CAS workload rewrites the real-server weights
// of the fenced VIP's service (harmless: every weight stays ≥ 1).
const (
	AvailInstance  = clustertest.Instance
	FencedInstance = "vf1"
)

var (
	// AvailVIP is the availability instance's VIP.
	AvailVIP = clustertest.VIP
	// FencedVIP is the quorum-fenced instance's VIP.
	FencedVIP = netip.MustParseAddr("203.0.113.9")
)

// writeMarker starts the comment line that makes every written config
// unique: "# jepsen write p<process>-<n>".
const writeMarker = "# jepsen write "

// VIPs maps each instance to its VIP.
func VIPs() map[string]netip.Addr {
	return map[string]netip.Addr{AvailInstance: AvailVIP, FencedInstance: FencedVIP}
}

// RenderConfig renders the group's keepalived.conf: clustertest's
// default (cluster block, instance vi1, service on AvailVIP) plus the
// fenced instance and its service with the given real-server weights
// (one per node; missing ones are 1), then the write marker line when
// marker is not empty.
func RenderConfig(p clustertest.ConfigParams, weights []int, marker string) string {
	var b strings.Builder
	b.WriteString(clustertest.DefaultConfig(p))
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("")
	w("vrrp_instance %s {", FencedInstance)
	w("  state BACKUP")
	w("  interface eth0")
	w("  virtual_router_id 52")
	w("  version 3")
	w("  advert_int 0.2")
	for i, n := range p.Nodes {
		// Reversed preference: the last node is the fenced VIP's master.
		w("  @%s priority %d", n.Name, clustertest.NodePriority(len(p.Nodes)-i))
	}
	w("  quorum_fence")
	w("  virtual_ipaddress {")
	w("    %s/24", FencedVIP)
	w("  }")
	w("}")
	w("")
	w("virtual_server %s %d {", FencedVIP, clustertest.VIPPort)
	w("  protocol TCP")
	w("  lb_algo wrr")
	w("  lb_kind NAT")
	w("  delay_loop 1")
	for i, n := range p.Nodes {
		weight := 1
		if i < len(weights) && weights[i] > 0 {
			weight = weights[i]
		}
		clustertest.WriteRealServer(w, n.Addr, weight)
	}
	w("}")
	if marker != "" {
		w("%s%s", writeMarker, marker)
	}
	return b.String()
}
