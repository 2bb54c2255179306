package nftables

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"quadrature/lvs"
)

// Every rule this backend writes carries a comment (rule userdata, visible
// in `nft list ruleset`) that records what the rule stands for in the table
// model, and so does every destination element (its service and weight).
// Read reconstructs the model from these records and checks that every
// rule and element a service needs is present, so a deleted rule, chain or
// element shows up as a difference the reconciler repairs.
//
// The grammar is "q2 KIND key=value ...", one record per rule, and
// "q2 s=ID w=WEIGHT" per destination element.

// recordPrefix starts every comment this backend writes; it carries the
// encoding version.
const recordPrefix = "q2"

// maxComment is the kernel's limit on rule userdata (NFT_USERDATA_MAXLEN)
// minus the TLV header and the terminating NUL.
const maxComment = 256 - 3

type recordKind uint8

const (
	kindInfra         recordKind = iota + 1 // a rule of the fixed skeleton
	kindService                             // first rule of s<id>: the service header
	kindPersistLookup                       // persistent client → its destination
	kindPersistStale                        // persisted destination gone → schedule
	kindSched                               // scheduler: slot count
	kindPick                                // jump to the slot lookup
	kindCount                               // connection counter, persistence refresh
	kindNAT                                 // goto the DNAT chain of the family
)

var kindNames = map[recordKind]string{
	kindInfra: "infra", kindService: "svc", kindPersistLookup: "pl", kindPersistStale: "px",
	kindSched: "sched", kindPick: "pick", kindCount: "cnt", kindNAT: "nat",
}

// record is one decoded rule comment.
type record struct {
	Kind  recordKind
	Infra string // kindInfra: which skeleton rule
	SvcID uint32

	// kindService
	Key         lvs.ServiceKey
	Scheduler   string
	Persistence uint32 // seconds
	Netmask     int

	// kindSched
	Slots uint32
}

// Infra rule names.
const (
	infraPreJump = "pre"  // prerouting → services
	infraOutJump = "out"  // output → services
	infraMasq    = "masq" // postrouting masquerade of our DNAT
	infraPreIn   = "stpi" // prerouting filter: count client → server
	infraPreOut  = "stpo" // prerouting filter: count replies
	infraOutIn   = "stoi" // output filter: count client → server
	infraOutOut  = "stoo" // output filter: count replies
	infraDisp4   = "d4"   // services: IPv4 address services
	infraDisp6   = "d6"   // services: IPv6 address services
	infraFwm4    = "f4"   // services: IPv4 fwmark services
	infraFwm6    = "f6"   // services: IPv6 fwmark services
	infraPick    = "pick" // pick: slot → destination mark
	infraNat4T   = "n4t"  // nat4: DNAT TCP to address . port
	infraNat4U   = "n4u"  // nat4: DNAT UDP to address . port
	infraNat4A   = "n4a"  // nat4: DNAT to address (port 0)
	infraNat4D   = "n4d"  // nat4: drop the rest
	infraNat6T   = "n6t"
	infraNat6U   = "n6u"
	infraNat6A   = "n6a"
	infraNat6D   = "n6d"
)

var infraNames = map[string]bool{infraPreJump: true, infraOutJump: true, infraMasq: true,
	infraPreIn: true, infraPreOut: true, infraOutIn: true, infraOutOut: true,
	infraDisp4: true, infraDisp6: true, infraFwm4: true, infraFwm6: true, infraPick: true,
	infraNat4T: true, infraNat4U: true, infraNat4A: true, infraNat4D: true,
	infraNat6T: true, infraNat6U: true, infraNat6A: true, infraNat6D: true}

// String encodes the record as a rule comment.
func (r record) String() string {
	var b strings.Builder
	b.WriteString(recordPrefix)
	b.WriteByte(' ')
	b.WriteString(kindNames[r.Kind])
	kv := func(k string, v any) { fmt.Fprintf(&b, " %s=%v", k, v) }
	switch r.Kind {
	case kindInfra:
		kv("r", r.Infra)
	case kindService:
		kv("id", r.SvcID)
		kv("fam", uint8(r.Key.Family))
		if r.Key.IsFWMark() {
			kv("fwm", r.Key.FWMark)
		} else {
			kv("proto", uint8(r.Key.Protocol))
			kv("addr", r.Key.Addr)
			kv("port", r.Key.Port)
		}
		kv("sched", r.Scheduler)
		kv("persist", r.Persistence)
		kv("mask", r.Netmask)
	case kindPersistLookup, kindPersistStale, kindPick, kindCount, kindNAT:
		kv("id", r.SvcID)
	case kindSched:
		kv("id", r.SvcID)
		kv("n", r.Slots)
	}
	return b.String()
}

var errNotOurs = errors.New("not a quadrature record")

// parseRecord decodes a rule comment. It returns errNotOurs (wrapped) for
// comments that do not start with the record prefix, and a descriptive
// error for malformed records; it never panics.
func parseRecord(s string) (record, error) {
	if len(s) > maxComment {
		return record{}, fmt.Errorf("record too long (%d bytes)", len(s))
	}
	f := strings.Fields(s)
	if len(f) < 2 || f[0] != recordPrefix {
		return record{}, errNotOurs
	}
	var r record
	for k, name := range kindNames {
		if name == f[1] {
			r.Kind = k
		}
	}
	if r.Kind == 0 {
		return record{}, fmt.Errorf("record %q: unknown kind %q", s, f[1])
	}
	kv := map[string]string{}
	for _, p := range f[2:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return record{}, fmt.Errorf("record %q: malformed field %q", s, p)
		}
		if _, dup := kv[k]; dup {
			return record{}, fmt.Errorf("record %q: duplicate field %q", s, k)
		}
		kv[k] = v
	}
	p := fieldParser{kv: kv}
	switch r.Kind {
	case kindInfra:
		r.Infra = p.str("r")
		if p.err == nil && !infraNames[r.Infra] {
			p.err = fmt.Errorf("unknown skeleton rule %q", r.Infra)
		}
	case kindService:
		r.SvcID = p.id("id")
		if p.err == nil && r.SvcID > maxServiceID {
			p.err = fmt.Errorf("id %d above %d", r.SvcID, maxServiceID)
		}
		r.Key.Family = lvs.Family(p.uint("fam", 8))
		if _, ok := kv["fwm"]; ok {
			r.Key.FWMark = uint32(p.uint("fwm", 32))
			if p.err == nil && r.Key.FWMark == 0 {
				p.err = errors.New("fwm=0")
			}
		} else {
			r.Key.Protocol = lvs.Protocol(p.uint("proto", 8))
			r.Key.Addr = p.addr("addr")
			r.Key.Port = uint16(p.uint("port", 16))
			if p.err == nil && lvs.FamilyOf(r.Key.Addr) != r.Key.Family {
				p.err = fmt.Errorf("address %s is not of family %d", r.Key.Addr, r.Key.Family)
			}
		}
		if p.err == nil && r.Key.Family != lvs.IPv4 && r.Key.Family != lvs.IPv6 {
			p.err = fmt.Errorf("bad family %d", r.Key.Family)
		}
		r.Scheduler = p.str("sched")
		if p.err == nil && !schedulers[r.Scheduler] {
			p.err = fmt.Errorf("unknown scheduler %q", r.Scheduler)
		}
		r.Persistence = uint32(p.uint("persist", 32))
		r.Netmask = int(p.uint("mask", 8))
		if p.err == nil && (r.Netmask < 1 || r.Netmask > addrBits(r.Key.Family)) {
			p.err = fmt.Errorf("bad mask %d", r.Netmask)
		}
	case kindPersistLookup, kindPersistStale, kindPick, kindCount, kindNAT:
		r.SvcID = p.id("id")
	case kindSched:
		r.SvcID = p.id("id")
		r.Slots = uint32(p.uint("n", 16))
		if p.err == nil && (r.Slots == 0 || r.Slots > maxSlots) {
			p.err = fmt.Errorf("n=%d", r.Slots)
		}
	}
	if p.err == nil && len(p.used) != len(kv) {
		for k := range kv {
			if !p.used[k] {
				p.err = fmt.Errorf("unexpected field %q", k)
				break
			}
		}
	}
	if p.err != nil {
		return record{}, fmt.Errorf("record %q: %w", s, p.err)
	}
	return r, nil
}

// fieldParser reads typed fields, keeping the first error.
type fieldParser struct {
	kv   map[string]string
	used map[string]bool
	err  error
}

func (p *fieldParser) str(k string) string {
	if p.err != nil {
		return ""
	}
	v, ok := p.kv[k]
	if !ok {
		p.err = fmt.Errorf("missing field %q", k)
		return ""
	}
	if p.used == nil {
		p.used = map[string]bool{}
	}
	p.used[k] = true
	return v
}

func (p *fieldParser) uint(k string, bits int) uint64 {
	v := p.str(k)
	if p.err != nil {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		p.err = fmt.Errorf("field %s: %w", k, err)
	}
	return n
}

func (p *fieldParser) id(k string) uint32 {
	n := p.uint(k, 31)
	if p.err == nil && n == 0 {
		p.err = fmt.Errorf("field %s: id 0", k)
	}
	return uint32(n)
}

func (p *fieldParser) addr(k string) netip.Addr {
	v := p.str(k)
	if p.err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		p.err = fmt.Errorf("field %s: %w", k, err)
		return netip.Addr{}
	}
	if a.Zone() != "" || a.Is4In6() {
		p.err = fmt.Errorf("field %s: address %s not canonical", k, v)
	}
	return a
}

func addrBits(f lvs.Family) int {
	if f == lvs.IPv6 {
		return 128
	}
	return 32
}

// slotCounts is the scheduler's share of each destination (in model
// order): weight w > 0 owns w slots (wrr, sh) or one slot (rr, dh, which
// ignore weights other than 0); weight 0 owns none. When the weights add
// up to more than maxSlots, destination i owns max(1, ⌊wᵢ·maxSlots/Σw⌋)
// slots instead (so a service never has more than max(maxSlots, its live
// destinations) slots; CheckService allows at most maxSlots live ones).
func slotCounts(sched string, weights []int32) ([]uint32, uint32) {
	out := make([]uint32, len(weights))
	var total uint64
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		out[i] = uint32(w)
		if sched == "rr" || sched == "dh" {
			out[i] = 1
		}
		total += uint64(out[i])
	}
	if total > maxSlots {
		scaled := uint64(0)
		for i, c := range out {
			if c == 0 {
				continue
			}
			out[i] = uint32(max(1, uint64(c)*maxSlots/total))
			scaled += uint64(out[i])
		}
		total = scaled
	}
	return out, uint32(total)
}

// persistSetName names a service's persistence map after its parameters,
// so a change of timeout or netmask builds a fresh map:
// p<svc>_<secs>_<mask>_<family>.
func persistSetName(h record) string {
	return fmt.Sprintf("p%d_%d_%d_%d", h.SvcID, h.Persistence, h.Netmask, h.Key.Family)
}

// persistSetID returns the service ID in a persistence map name.
func persistSetID(name string) (uint32, bool) {
	rest, ok := strings.CutPrefix(name, "p")
	if !ok || strings.Count(rest, "_") != 3 {
		return 0, false
	}
	id, _, _ := strings.Cut(rest, "_")
	return chainID("s" + id)
}

func svcChainName(id uint32) string         { return "s" + strconv.FormatUint(uint64(id), 10) }
func persistSeconds(d time.Duration) uint32 { return uint32(d / time.Second) }
func seconds(s uint32) time.Duration        { return time.Duration(s) * time.Second }

// chainID parses a service chain name ("s12") into its ID; ok is false
// for other names.
func chainID(name string) (uint32, bool) {
	s, found := strings.CutPrefix(name, "s")
	if !found || s == "" || len(s) > 10 || s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 31)
	return uint32(n), err == nil && n != 0 && n <= maxServiceID
}

// destComment is the comment of a destination element: its service and
// weight.
func destComment(svc uint32, weight int32) string {
	return recordPrefix + " s=" + strconv.FormatUint(uint64(svc), 10) + " w=" + strconv.FormatInt(int64(weight), 10)
}

// parseDestComment decodes destComment's output; it never panics.
func parseDestComment(s string) (svc uint32, weight int32, err error) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != recordPrefix {
		return 0, 0, fmt.Errorf("destination comment %q: not ours", s)
	}
	p := fieldParser{kv: map[string]string{}}
	for _, x := range f[1:] {
		k, v, ok := strings.Cut(x, "=")
		if !ok || (k != "s" && k != "w") {
			return 0, 0, fmt.Errorf("destination comment %q: field %q", s, x)
		}
		if _, dup := p.kv[k]; dup {
			return 0, 0, fmt.Errorf("destination comment %q: duplicate %q", s, k)
		}
		p.kv[k] = v
	}
	svc = p.id("s")
	weight = int32(p.uint("w", 31))
	if p.err != nil {
		return 0, 0, fmt.Errorf("destination comment %q: %w", s, p.err)
	}
	return svc, weight, nil
}
