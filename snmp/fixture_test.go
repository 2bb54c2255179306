package snmp

import (
	"net/netip"
	"sync"
	"time"
)

// memSource is an in-memory Source whose snapshot tests change.
type memSource struct {
	mu    sync.Mutex
	snap  Snapshot
	calls int
}

func (m *memSource) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	return m.snap
}

func (m *memSource) set(f func(*Snapshot)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.snap)
}

func (m *memSource) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// fixture is a node with a VRRPv3 IPv4 master, a VRRPv2 IPv4 backup in
// a sync group, a VRRPv3 IPv6 backup, and one virtual server with two
// real servers (one down) and a sorry server. up is when the instances
// left INIT.
func fixture(ifIndex int, up time.Time) Snapshot {
	return Snapshot{
		Global: Global{Version: "quadrature test", RouterID: "lb1"},
		Instances: []VRRPInstance{
			{
				Name: "VI_1", State: StateMaster, InitialState: StateBackup, VRID: 51, Version: 3,
				Interface: "eth0", IfIndex: ifIndex, BasePriority: 100, EffectivePriority: 150,
				VIPs:           []netip.Prefix{netip.MustParsePrefix("192.0.2.100/32"), netip.MustParsePrefix("192.0.2.101/24")},
				AdvertInterval: time.Second, Preempt: true, Accept: true,
				PrimaryAddr: netip.MustParseAddr("192.0.2.1"), MasterAddr: netip.MustParseAddr("192.0.2.2"),
				UpSince: up, MasterReason: ReasonPreempted,
				Counters: &VRRPCounters{BecameMaster: 3, AdvertsReceived: 1 << 33, PriorityZeroSent: 1, ChecksumErrors: 2, VRIDErrors: 5},
			},
			{
				Name: "VI_2", State: StateBackup, InitialState: StateBackup, VRID: 52, Version: 2,
				Interface: "eth0", IfIndex: ifIndex, BasePriority: 90, EffectivePriority: 90,
				VIPs:           []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32")},
				AdvertInterval: 2 * time.Second, Auth: AuthPass, SyncGroup: "G1", PreemptDelay: 5 * time.Second,
				PrimaryAddr: netip.MustParseAddr("192.0.2.1"), MasterAddr: netip.MustParseAddr("192.0.2.3"),
				UpSince:  up,
				Counters: &VRRPCounters{AdvertsReceived: 42, AuthFailures: 1, ChecksumErrors: 7},
			},
			{
				Name: "VI_6", State: StateFault, InitialState: StateMaster, VRID: 53, Version: 3,
				Interface: "eth0", IfIndex: ifIndex, BasePriority: 200, EffectivePriority: 200,
				VIPs:           []netip.Prefix{netip.MustParsePrefix("2001:db8::53/64")},
				AdvertInterval: 500 * time.Millisecond,
			},
		},
		VirtualServers: []VirtualServer{{
			Addr: netip.MustParseAddr("203.0.113.10"), Port: 80, Protocol: "TCP", Scheduler: "wlc",
			ForwardMethod: "DR", Persist: 300 * time.Second, DelayLoop: 6 * time.Second,
			Quorum: 1, QuorumMet: true, Name: "web",
			Stats: &IPVSStats{Conns: 10, InPkts: 1<<32 + 5, OutPkts: 20, InBytes: 1 << 40, OutBytes: 300, CPS: 2, InBPS: 1<<32 + 1},
			Reals: []RealServer{
				{Addr: netip.MustParseAddr("203.0.113.21"), Port: 8080, Weight: 3, Alive: true,
					Stats: &IPVSStats{Conns: 4, ActiveConns: 1, InactiveConns: 2, InBytes: 99}},
				{Addr: netip.MustParseAddr("203.0.113.22"), Port: 8080, Weight: 1, Alive: false, FailedChecks: 2, ForwardMethod: "NAT"},
				{Addr: netip.MustParseAddr("203.0.113.99"), Port: 80, Weight: 1, Alive: true, Sorry: true},
			},
		}, {
			FWMark: 7, Protocol: "", Scheduler: "sh", ForwardMethod: "TUN", QuorumMet: false, Quorum: 2,
		}},
	}
}

var allMIBs = MIBs{VRRP: true, Checker: true, RFCv2: true, RFCv3: true}
