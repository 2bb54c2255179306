package snmp

import (
	"net/netip"
	"slices"
)

// Table is an immutable, sorted set of object instances, plus the object
// (column and scalar) OIDs the MIB implements, which tell noSuchInstance
// from noSuchObject.
type Table struct {
	vars    []VarBind // sorted by Name, names unique
	objects []OID     // sorted
}

// tableBuilder collects instances in any order.
type tableBuilder struct {
	vars    []VarBind
	objects []OID
}

// object declares an implemented column or scalar (its OID without the
// instance part).
func (b *tableBuilder) object(o OID) { b.objects = append(b.objects, o) }

func (b *tableBuilder) add(t VarType, name OID, v any) {
	b.vars = append(b.vars, VarBind{Type: t, Name: name, Value: v})
}

func (b *tableBuilder) integer(name OID, v int64) {
	b.add(TypeInteger, name, int32(clamp(v, -1<<31, 1<<31-1)))
}

func (b *tableBuilder) gauge(name OID, v uint64) {
	b.add(TypeGauge32, name, uint32(min(v, 1<<32-1)))
}

// counter32 wraps, as a Counter32 does.
func (b *tableBuilder) counter32(name OID, v uint64) { b.add(TypeCounter32, name, uint32(v)) }

func (b *tableBuilder) counter64(name OID, v uint64) { b.add(TypeCounter64, name, v) }

func (b *tableBuilder) ticks(name OID, v uint64) {
	b.add(TypeTimeTicks, name, uint32(min(v, 1<<32-1)))
}

func (b *tableBuilder) str(name OID, s string) { b.add(TypeOctetString, name, []byte(s)) }

func (b *tableBuilder) octets(name OID, o []byte) { b.add(TypeOctetString, name, o) }

func (b *tableBuilder) ipv4(name OID, a netip.Addr) {
	if a.Is4() {
		b.add(TypeIPAddress, name, a.As4())
	}
}

// inetAddr adds an InetAddress (4 or 16 octets); an invalid address is
// left out.
func (b *tableBuilder) inetAddr(name OID, a netip.Addr) {
	if a.IsValid() {
		b.octets(name, a.Unmap().AsSlice())
	}
}

func clamp(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }

func (b *tableBuilder) build() *Table {
	vars := slices.Clone(b.vars)
	slices.SortStableFunc(vars, func(x, y VarBind) int { return x.Name.Compare(y.Name) })
	// Keep the first of duplicate names (builders do not produce them;
	// this keeps the table well formed whatever a Source returns, e.g.
	// two instances with the same ifIndex and VRID).
	vars = slices.CompactFunc(vars, func(x, y VarBind) bool { return x.Name.Compare(y.Name) == 0 })
	objs := slices.Clone(b.objects)
	slices.SortFunc(objs, OID.Compare)
	objs = slices.CompactFunc(objs, func(x, y OID) bool { return x.Compare(y) == 0 })
	return &Table{vars: vars, objects: objs}
}

// Len is the number of instances.
func (t *Table) Len() int { return len(t.vars) }

// Vars returns the instances in OID order (shared; do not modify).
func (t *Table) Vars() []VarBind { return t.vars }

// Get answers a Get for one name: the instance, or noSuchInstance when
// the name lies under an implemented object, or noSuchObject.
func (t *Table) Get(name OID) VarBind {
	i, ok := slices.BinarySearchFunc(t.vars, name, func(v VarBind, o OID) int { return v.Name.Compare(o) })
	if ok {
		return t.vars[i]
	}
	for _, o := range t.objects {
		if name.HasPrefix(o) && len(name) > len(o) {
			return VarBind{Type: TypeNoSuchInstance, Name: name}
		}
	}
	return VarBind{Type: TypeNoSuchObject, Name: name}
}

// Next answers a GetNext for one search range: the first instance at or
// after r.Start (at when r.Include) and before r.End, else endOfMibView
// named r.Start (RFC 2741 §7.2.3.2).
func (t *Table) Next(r SearchRange) VarBind {
	i, found := slices.BinarySearchFunc(t.vars, r.Start, func(v VarBind, o OID) int { return v.Name.Compare(o) })
	if found && !r.Include {
		i++
	}
	if i < len(t.vars) && (len(r.End) == 0 || t.vars[i].Name.Compare(r.End) < 0) {
		return t.vars[i]
	}
	return VarBind{Type: TypeEndOfMibView, Name: r.Start}
}

// maxBulkVarBinds bounds one GetBulk answer whatever max-repetitions
// asks for (snmpd caps its own requests well below).
const maxBulkVarBinds = 2048

// Bulk answers a GetBulk (RFC 2741 §7.2.3.3): the first nonRep ranges
// once, the others maxRep times each, interleaved by repetition.
func (t *Table) Bulk(ranges []SearchRange, nonRep, maxRep int) []VarBind {
	nonRep = min(max(nonRep, 0), len(ranges))
	out := make([]VarBind, 0, len(ranges))
	for _, r := range ranges[:nonRep] {
		out = append(out, t.Next(r))
	}
	rep := slices.Clone(ranges[nonRep:])
	if len(rep) == 0 {
		return out
	}
	for n := 0; n < maxRep && len(out)+len(rep) <= maxBulkVarBinds; n++ {
		allEnd := true
		for i := range rep {
			v := t.Next(rep[i])
			out = append(out, v)
			if v.Type != TypeEndOfMibView {
				allEnd = false
				rep[i].Start, rep[i].Include = v.Name, false
			}
		}
		if allEnd {
			break
		}
	}
	return out
}
