package lvs

import (
	"context"
	"errors"
	"time"
)

// DataPlane is a kernel load-balancing backend that a Reconciler drives:
// IPVS (this package) or nftables (package lvs/nftables). Implementations
// are safe for use by one goroutine at a time; the reconciler serializes
// calls.
type DataPlane interface {
	// Name is "ipvs" or "nftables".
	Name() string
	// Read dumps the kernel state that the backend manages, in one dump,
	// as a table model.
	Read(ctx context.Context) (Table, error)
	// Apply performs the changes of a plan (computed by Diff against the
	// last Read) with the minimum number of kernel calls.
	Apply(ctx context.Context, p Plan) error
	// Stats reads per-service and per-destination counters.
	Stats(ctx context.Context) (map[ServiceKey]ServiceStats, error)
	// Supports reports whether the backend can program s exactly; the error
	// names the backend and the unsupported feature.
	Supports(s Service) error
	// Close releases kernel handles.
	Close() error
}

// ServiceStats are a service's counters and its destinations' counters.
type ServiceStats struct {
	Counters
	Destinations map[DestKey]DestStats
}

// DestStats are one destination's counters and connection gauges.
type DestStats struct {
	Counters
	ActiveConns   uint32
	InactiveConns uint32
	PersistConns  uint32
}

// Counters are cumulative traffic counters and the kernel's rate estimates.
type Counters struct {
	Connections uint64
	PacketsIn   uint64
	PacketsOut  uint64
	BytesIn     uint64
	BytesOut    uint64
	CPS         uint64 // connections per second (estimate)
	PPSIn       uint64
	PPSOut      uint64
	BPSIn       uint64
	BPSOut      uint64
}

// ErrUnavailable is returned (wrapped) when the kernel lacks the backend
// (no IPVS module, no nf_tables) or the process lacks CAP_NET_ADMIN.
var ErrUnavailable = errors.New("lvs: data plane unavailable")

// Plan is the set of changes that turns an observed table into a desired
// one. Weight, method or threshold changes are updates, never
// delete+create.
type Plan struct {
	AddServices    []Service // created with their destinations
	UpdateServices []Service // scheduler, flags, persistence, netmask, ops
	DeleteServices []ServiceKey
	AddDests       []DestChange
	UpdateDests    []DestChange
	DeleteDests    []DestChange
	Timeouts       *Timeouts
}

// DestChange is one destination operation within a service.
type DestChange struct {
	Service ServiceKey
	Dest    Destination
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.AddServices) == 0 && len(p.UpdateServices) == 0 && len(p.DeleteServices) == 0 &&
		len(p.AddDests) == 0 && len(p.UpdateDests) == 0 && len(p.DeleteDests) == 0 && p.Timeouts == nil
}

// Ops counts the kernel operations of the plan (a created service counts
// one plus one per destination).
func (p Plan) Ops() int {
	n := len(p.UpdateServices) + len(p.DeleteServices) + len(p.AddDests) + len(p.UpdateDests) + len(p.DeleteDests)
	for _, s := range p.AddServices {
		n += 1 + len(s.Destinations)
	}
	if p.Timeouts != nil {
		n++
	}
	return n
}

// SyncResult describes one reconciliation pass.
type SyncResult struct {
	Plan     Plan
	Duration time.Duration
	Digest   string // digest of the kernel table after the pass
	Drift    bool   // the kernel differed from the last state this process applied
	// Slice and Slices are set by a sliced Resync that verified slice
	// Slice (1-based) of Slices without needing a full pass.
	Slice, Slices int
}
