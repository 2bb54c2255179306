package lvs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Errors of the in-memory data plane, mirroring the kernel's EEXIST and
// ENOENT answers.
var (
	ErrExist    = errors.New("already exists")
	ErrNotExist = errors.New("does not exist")
)

// MemDataPlane is an in-memory DataPlane for tests of this and other
// packages: it keeps a table, checks each operation like the kernel does
// (creating an existing service or updating a missing destination fails),
// serves settable statistics, and can inject failures. It is safe for
// concurrent use; tests change it "behind the reconciler's back" with Set.
type MemDataPlane struct {
	mu         sync.Mutex
	tab        Table
	stats      map[ServiceKey]map[DestKey]DestStats
	failApply  []error // errors for the next Apply calls
	failRead   []error
	reads      int
	sliceReads int // of reads, those by ReadSlice
	applyCalls int
	ops        int
	closed     bool
	// SupportsFunc, when set, answers Supports.
	SupportsFunc func(Service) error
}

// NewMemDataPlane returns an empty in-memory data plane.
func NewMemDataPlane() *MemDataPlane {
	return &MemDataPlane{tab: Table{}.Normalize(), stats: make(map[ServiceKey]map[DestKey]DestStats)}
}

// Name is "mem".
func (m *MemDataPlane) Name() string { return "mem" }

// Read returns a copy of the table.
func (m *MemDataPlane) Read(ctx context.Context) (Table, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Table{}, errors.New("lvs: mem data plane closed")
	}
	m.reads++
	if len(m.failRead) > 0 {
		err := m.failRead[0]
		m.failRead = m.failRead[1:]
		return Table{}, err
	}
	return m.tab.Normalize(), nil
}

// ReadSlice returns a copy of the table with the destinations of the
// services withDests selects only (a Read for the reconciler's sliced
// resync).
func (m *MemDataPlane) ReadSlice(ctx context.Context, withDests func(ServiceKey) bool) (Table, error) {
	t, err := m.Read(ctx)
	if err != nil {
		return t, err
	}
	m.mu.Lock()
	m.sliceReads++
	m.mu.Unlock()
	for i := range t.Services {
		if withDests == nil || !withDests(t.Services[i].Key) {
			t.Services[i].Destinations = nil
		}
	}
	return t, nil
}

// Apply performs the plan operation by operation, keeping going after a
// failure, and returns the failures joined as *OpError.
func (m *MemDataPlane) Apply(ctx context.Context, p Plan) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("lvs: mem data plane closed")
	}
	m.applyCalls++
	if len(m.failApply) > 0 {
		err := m.failApply[0]
		m.failApply = m.failApply[1:]
		return err
	}
	var errs []error
	fail := func(op Op, k ServiceKey, d *Destination, err error) {
		oe := &OpError{Op: op, Service: k, Err: err}
		if d != nil {
			dk := d.Key()
			oe.Dest = &dk
		}
		errs = append(errs, oe)
	}
	idx := make(map[ServiceKey]int, len(m.tab.Services))
	reindex := func() {
		clear(idx)
		for i, s := range m.tab.Services {
			idx[s.Key] = i
		}
	}
	reindex()
	svc := func(k ServiceKey) *Service {
		if i, ok := idx[k]; ok {
			return &m.tab.Services[i]
		}
		return nil
	}
	destIdx := func(s *Service, k DestKey) int {
		return slices.IndexFunc(s.Destinations, func(d Destination) bool { return d.Key() == k })
	}
	for _, c := range p.DeleteDests {
		m.ops++
		s := svc(c.Service)
		if s == nil || destIdx(s, c.Dest.Key()) < 0 {
			fail(OpDeleteDest, c.Service, &c.Dest, ErrNotExist)
			continue
		}
		s.Destinations = slices.Delete(s.Destinations, destIdx(s, c.Dest.Key()), destIdx(s, c.Dest.Key())+1)
		delete(m.stats[c.Service], c.Dest.Key())
	}
	for _, k := range p.DeleteServices {
		m.ops++
		if svc(k) == nil {
			fail(OpDeleteService, k, nil, ErrNotExist)
			continue
		}
		m.tab.Services = slices.DeleteFunc(m.tab.Services, func(s Service) bool { return s.Key == k })
		reindex()
		delete(m.stats, k)
	}
	for _, s := range p.AddServices {
		m.ops++
		if err := s.Validate(); err != nil {
			fail(OpAddService, s.Key, nil, err)
			continue
		}
		if svc(s.Key) != nil {
			fail(OpAddService, s.Key, nil, ErrExist)
			continue
		}
		ns := s
		ns.Destinations = nil
		m.tab.Services = append(m.tab.Services, ns)
		idx[ns.Key] = len(m.tab.Services) - 1
		for _, d := range s.Destinations {
			m.ops++
			t := svc(s.Key)
			if destIdx(t, d.Key()) >= 0 {
				fail(OpAddDest, s.Key, &d, ErrExist)
				continue
			}
			t.Destinations = append(t.Destinations, d)
		}
	}
	for _, u := range p.UpdateServices {
		m.ops++
		s := svc(u.Key)
		if s == nil {
			fail(OpUpdateService, u.Key, nil, ErrNotExist)
			continue
		}
		ds := s.Destinations
		*s = u
		s.Destinations = ds
	}
	for _, c := range p.AddDests {
		m.ops++
		s := svc(c.Service)
		switch {
		case s == nil:
			fail(OpAddDest, c.Service, &c.Dest, fmt.Errorf("service: %w", ErrNotExist))
		case destIdx(s, c.Dest.Key()) >= 0:
			fail(OpAddDest, c.Service, &c.Dest, ErrExist)
		default:
			s.Destinations = append(s.Destinations, c.Dest)
		}
	}
	for _, c := range p.UpdateDests {
		m.ops++
		s := svc(c.Service)
		if s == nil || destIdx(s, c.Dest.Key()) < 0 {
			fail(OpUpdateDest, c.Service, &c.Dest, ErrNotExist)
			continue
		}
		s.Destinations[destIdx(s, c.Dest.Key())] = c.Dest
	}
	if p.Timeouts != nil {
		m.ops++
		m.tab = Plan{Timeouts: p.Timeouts}.ApplyTo(m.tab)
	}
	m.tab = m.tab.Normalize()
	return errors.Join(errs...)
}

// Stats returns the counters set with SetDestStats for the services and
// destinations present (zero for the others).
func (m *MemDataPlane) Stats(ctx context.Context) (map[ServiceKey]ServiceStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[ServiceKey]ServiceStats, len(m.tab.Services))
	for _, s := range m.tab.Services {
		ss := ServiceStats{Destinations: make(map[DestKey]DestStats, len(s.Destinations))}
		for _, d := range s.Destinations {
			ds := m.stats[s.Key][d.Key()]
			ss.Destinations[d.Key()] = ds
			ss.Connections += ds.Connections
			ss.PacketsIn += ds.PacketsIn
			ss.PacketsOut += ds.PacketsOut
			ss.BytesIn += ds.BytesIn
			ss.BytesOut += ds.BytesOut
		}
		out[s.Key] = ss
	}
	return out, nil
}

// Supports accepts everything unless SupportsFunc says otherwise.
func (m *MemDataPlane) Supports(s Service) error {
	if m.SupportsFunc != nil {
		return m.SupportsFunc(s)
	}
	return nil
}

// Close marks the data plane closed; later calls fail.
func (m *MemDataPlane) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// Set replaces the table, as an operator's ipvsadm would.
func (m *MemDataPlane) Set(t Table) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tab = t.Normalize()
}

// Table returns a copy of the current table.
func (m *MemDataPlane) Table() Table {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tab.Normalize()
}

// SetDestStats sets a destination's counters and connection gauges.
func (m *MemDataPlane) SetDestStats(svc ServiceKey, dest DestKey, st DestStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats[svc] == nil {
		m.stats[svc] = make(map[DestKey]DestStats)
	}
	m.stats[svc][dest] = st
}

// FailApply makes the next len(errs) Apply calls fail with errs, in order,
// without changing the table.
func (m *MemDataPlane) FailApply(errs ...error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failApply = append(m.failApply, errs...)
}

// FailRead makes the next len(errs) Read calls fail with errs, in order.
func (m *MemDataPlane) FailRead(errs ...error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failRead = append(m.failRead, errs...)
}

// Counts returns the number of Read calls, Apply calls and kernel
// operations performed so far.
func (m *MemDataPlane) Counts() (reads, applies, ops int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads, m.applyCalls, m.ops
}

// SliceReads returns how many of the Read calls were ReadSlice calls.
func (m *MemDataPlane) SliceReads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sliceReads
}

func (*MemDataPlane) readsAreFresh() {}

// StatsOf returns Stats restricted to keys (the ServiceStatsReader fast
// path).
func (m *MemDataPlane) StatsOf(ctx context.Context, keys []ServiceKey) (map[ServiceKey]ServiceStats, error) {
	all, err := m.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[ServiceKey]ServiceStats, len(keys))
	for _, k := range keys {
		if s, ok := all[k]; ok {
			out[k] = s
		}
	}
	return out, nil
}
