package lvs

import "slices"

// OwnedSet is the set of services a reconciler manages: the services it
// created or that were in its desired table. Services outside the set are
// somebody else's (an operator's ipvsadm, another daemon) and Diff leaves
// them alone unless Options.OwnWholeTable is set.
//
// Ownership lives in memory. It survives a restart in two ways: every
// service whose key is in the desired table is owned (so a restarted
// process adopts and repairs its services at the first Sync), and a
// Reconciler with Config.StateFile persists the set, so services that
// left the desired table while the process was down are still deleted.
// Without a state file such services stay in the kernel until
// OwnWholeTable is used or an operator removes them.
type OwnedSet map[ServiceKey]struct{}

// Has reports whether k is owned.
func (o OwnedSet) Has(k ServiceKey) bool { _, ok := o[k]; return ok }

// Add marks keys as owned.
func (o OwnedSet) Add(keys ...ServiceKey) {
	for _, k := range keys {
		o[k] = struct{}{}
	}
}

// Keys returns the owned keys in Compare order.
func (o OwnedSet) Keys() []ServiceKey {
	out := make([]ServiceKey, 0, len(o))
	for k := range o {
		out = append(out, k)
	}
	slices.SortFunc(out, ServiceKey.Compare)
	return out
}

// Options control Diff.
type Options struct {
	// OwnWholeTable makes every service in the kernel subject to deletion
	// when it is not desired (keepalived's lvs_flush behaviour).
	OwnWholeTable bool
	// Owned are the services this process manages besides the desired
	// ones; an observed service that is neither desired nor owned is left
	// alone.
	Owned OwnedSet
}

// Diff computes the minimum plan that turns observed into desired. It is
// pure: no I/O, deterministic output order (Compare order). A desired
// service missing from observed is created with its destinations; one
// present in both is updated in place (scheduler, flags, persistence,
// netmask, one-packet) and its destinations are added, updated (weight,
// method, tunnel, thresholds) or deleted individually; nothing is ever
// deleted and re-created. Destinations inside a desired service are all
// managed: one added behind the reconciler's back is deleted. Observed
// services that are not desired are deleted only when owned (see
// OwnedSet) or with OwnWholeTable. Timeouts are planned when desired sets
// a non-zero value that differs from the observed one.
func Diff(observed, desired Table, opts Options) Plan {
	return diffNormalized(observed.Normalize(), desired.Normalize(), opts)
}

// diffNormalized is Diff over tables already in Normalize form.
func diffNormalized(obs, des Table, opts Options) Plan {
	var p Plan
	i, j := 0, 0
	for i < len(obs.Services) || j < len(des.Services) {
		var c int
		switch {
		case i == len(obs.Services):
			c = 1
		case j == len(des.Services):
			c = -1
		default:
			c = obs.Services[i].Key.Compare(des.Services[j].Key)
		}
		switch {
		case c < 0: // observed only
			k := obs.Services[i].Key
			if opts.OwnWholeTable || opts.Owned.Has(k) {
				p.DeleteServices = append(p.DeleteServices, k)
			}
			i++
		case c > 0: // desired only
			p.AddServices = append(p.AddServices, des.Services[j])
			j++
		default:
			diffService(&p, &obs.Services[i], &des.Services[j])
			i++
			j++
		}
	}
	if des.Timeouts != nil && timeoutsDiffer(obs.Timeouts, des.Timeouts) {
		to := *des.Timeouts
		p.Timeouts = &to
	}
	return p
}

func timeoutsDiffer(obs, des *Timeouts) bool {
	if obs == nil {
		return *des != (Timeouts{})
	}
	return (des.TCP != 0 && des.TCP != obs.TCP) ||
		(des.TCPFin != 0 && des.TCPFin != obs.TCPFin) ||
		(des.UDP != 0 && des.UDP != obs.UDP)
}

// sameAttrs reports whether two services have the same settings (not
// destinations).
func sameAttrs(a, b *Service) bool {
	return a.Scheduler == b.Scheduler && a.Flags == b.Flags && a.Persistence == b.Persistence &&
		a.Netmask == b.Netmask && a.OnePacket == b.OnePacket
}

func diffService(p *Plan, o, d *Service) {
	if !sameAttrs(o, d) {
		u := *d
		u.Destinations = nil
		p.UpdateServices = append(p.UpdateServices, u)
	}
	k := d.Key
	i, j := 0, 0
	for i < len(o.Destinations) || j < len(d.Destinations) {
		var c int
		switch {
		case i == len(o.Destinations):
			c = 1
		case j == len(d.Destinations):
			c = -1
		default:
			c = o.Destinations[i].Key().Compare(d.Destinations[j].Key())
		}
		switch {
		case c < 0:
			p.DeleteDests = append(p.DeleteDests, DestChange{k, o.Destinations[i]})
			i++
		case c > 0:
			p.AddDests = append(p.AddDests, DestChange{k, d.Destinations[j]})
			j++
		default:
			if !sameDest(o.Destinations[i], d.Destinations[j]) {
				p.UpdateDests = append(p.UpdateDests, DestChange{k, d.Destinations[j]})
			}
			i++
			j++
		}
	}
}

// Split cuts the plan into consecutive plans of at most n kernel
// operations each (n <= 0: no split), in a safe order: destination
// deletions, service deletions, service creations (a created service with
// many destinations is split into the service and destination additions),
// service updates, destination additions and updates, timeouts. Applying
// the parts in order has the effect of applying p.
func (p Plan) Split(n int) []Plan {
	if n <= 0 || p.Ops() <= n {
		if p.Empty() {
			return nil
		}
		return []Plan{p}
	}
	var out []Plan
	var cur Plan
	ops := 0
	flush := func() {
		if !cur.Empty() {
			out = append(out, cur)
		}
		cur, ops = Plan{}, 0
	}
	room := func(k int) {
		if ops+k > n {
			flush()
		}
		ops += k
	}
	for _, c := range p.DeleteDests {
		room(1)
		cur.DeleteDests = append(cur.DeleteDests, c)
	}
	for _, k := range p.DeleteServices {
		room(1)
		cur.DeleteServices = append(cur.DeleteServices, k)
	}
	for _, s := range p.AddServices {
		if 1+len(s.Destinations) <= n {
			room(1 + len(s.Destinations))
			cur.AddServices = append(cur.AddServices, s)
			continue
		}
		bare := s
		bare.Destinations = nil
		room(1)
		cur.AddServices = append(cur.AddServices, bare)
		for _, d := range s.Destinations {
			room(1)
			cur.AddDests = append(cur.AddDests, DestChange{s.Key, d})
		}
	}
	for _, s := range p.UpdateServices {
		room(1)
		cur.UpdateServices = append(cur.UpdateServices, s)
	}
	for _, c := range p.AddDests {
		room(1)
		cur.AddDests = append(cur.AddDests, c)
	}
	for _, c := range p.UpdateDests {
		room(1)
		cur.UpdateDests = append(cur.UpdateDests, c)
	}
	if p.Timeouts != nil {
		room(1)
		cur.Timeouts = p.Timeouts
	}
	flush()
	return out
}

// ApplyTo returns t (normalized) with the plan applied in memory, as a
// kernel that accepted every operation would hold it. Operations that
// cannot apply (a missing service) are skipped.
func (p Plan) ApplyTo(t Table) Table {
	return p.applyNormalized(t.Normalize())
}

// applyNormalized is ApplyTo for a normalized t. It copies only the
// services the plan touches (the others share storage with t), so applying
// a small plan to a large table is cheap.
func (p Plan) applyNormalized(t Table) Table {
	return p.apply(t, false)
}

// apply is applyNormalized; with inPlace, t's service slice is reused when
// the plan neither adds nor deletes services (the caller owns t).
func (p Plan) apply(t Table, inPlace bool) Table {
	n := Table{Services: t.Services, Timeouts: t.Timeouts}
	if !inPlace || len(p.AddServices) > 0 || len(p.DeleteServices) > 0 {
		n.Services = slices.Clone(t.Services)
	}
	find := func(k ServiceKey) int {
		i, ok := slices.BinarySearchFunc(n.Services, k, func(s Service, k ServiceKey) int { return s.Key.Compare(k) })
		if !ok {
			return -1
		}
		return i
	}
	touched := make(map[int]bool)
	own := func(i int) *Service { // copy-on-write of a service's destinations
		if !touched[i] {
			n.Services[i].Destinations = slices.Clone(n.Services[i].Destinations)
			touched[i] = true
		}
		return &n.Services[i]
	}
	dead := make(map[ServiceKey]bool)
	for _, c := range p.DeleteDests {
		if i := find(c.Service); i >= 0 {
			s := own(i)
			s.Destinations = slices.DeleteFunc(s.Destinations, func(d Destination) bool { return d.Key() == c.Dest.Key() })
		}
	}
	for _, k := range p.DeleteServices {
		dead[k] = true
	}
	var added []Service
	for _, s := range p.AddServices {
		s.Destinations = slices.Clone(s.Destinations)
		delete(dead, s.Key)
		if i := find(s.Key); i >= 0 {
			n.Services[i] = s
			touched[i] = true
			continue
		}
		added = append(added, s)
	}
	if len(added) > 0 {
		n.Services = append(n.Services, added...)
		slices.SortFunc(n.Services, compareService)
		touched = make(map[int]bool) // indexes moved; AddServices are fresh copies anyway
		for i := range n.Services {
			for _, s := range added {
				if n.Services[i].Key == s.Key {
					touched[i] = true
				}
			}
		}
	}
	for _, u := range p.UpdateServices {
		if i := find(u.Key); i >= 0 && !dead[u.Key] {
			ds := n.Services[i].Destinations
			n.Services[i] = u
			n.Services[i].Destinations = ds
		}
	}
	for _, c := range append(slices.Clone(p.AddDests), p.UpdateDests...) {
		i := find(c.Service)
		if i < 0 || dead[c.Service] {
			continue
		}
		s := own(i)
		if j := slices.IndexFunc(s.Destinations, func(d Destination) bool { return d.Key() == c.Dest.Key() }); j >= 0 {
			s.Destinations[j] = c.Dest
		} else {
			s.Destinations = append(s.Destinations, c.Dest)
		}
	}
	for i := range touched {
		if i < len(n.Services) && !slices.IsSortedFunc(n.Services[i].Destinations, compareDest) {
			slices.SortFunc(n.Services[i].Destinations, compareDest)
		}
	}
	if len(dead) > 0 {
		n.Services = slices.DeleteFunc(n.Services, func(s Service) bool { return dead[s.Key] })
	}
	if p.Timeouts != nil {
		to := Timeouts{}
		if n.Timeouts != nil {
			to = *n.Timeouts
		}
		if p.Timeouts.TCP != 0 {
			to.TCP = p.Timeouts.TCP
		}
		if p.Timeouts.TCPFin != 0 {
			to.TCPFin = p.Timeouts.TCPFin
		}
		if p.Timeouts.UDP != 0 {
			to.UDP = p.Timeouts.UDP
		}
		n.Timeouts = &to
	}
	return n
}

// sameDest compares an observed destination with a desired one; an
// observed LocalNode method matches any desired method (the kernel
// substitutes it for local addresses).
func sameDest(o, d Destination) bool {
	if o.Method == LocalNode {
		o.Method = d.Method
		if d.Method == TUN {
			o.Tunnel, o.TunnelPort, o.TunnelFlags = d.Tunnel, d.TunnelPort, d.TunnelFlags
		}
	}
	return o == d
}
