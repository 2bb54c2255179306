package nftables

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"quadrature/lvs"
)

// Every rule this backend writes carries a comment (rule userdata, visible
// in `nft list ruleset`) that records what the rule stands for in the table
// model. Read reconstructs the model from these records and checks that
// every rule a service needs is present, so a deleted rule or chain shows up
// as a difference the reconciler repairs.
//
// The grammar is "q1 KIND key=value ...", one record per rule.

// recordPrefix starts every comment this backend writes; it carries the
// encoding version.
const recordPrefix = "q1"

// maxComment is the kernel's limit on rule userdata (NFT_USERDATA_MAXLEN)
// minus the TLV header and the terminating NUL.
const maxComment = 256 - 3

type recordKind uint8

const (
	kindInfra   recordKind = iota + 1 // a rule of the fixed skeleton
	kindService                       // dispatch rule: the service header
	kindSched                         // scheduler rule: slot count and layout hash
	kindWeight                        // weight of one destination (its persistence jump)
	kindEnd                           // final drop of a service chain
	kindDest                          // destination rule: DNAT, connection counter
)

var kindNames = map[recordKind]string{
	kindInfra: "infra", kindService: "svc", kindSched: "sched",
	kindWeight: "w", kindEnd: "end", kindDest: "dst",
}

// record is one decoded rule comment.
type record struct {
	Kind   recordKind
	Infra  string // kindInfra: which skeleton rule
	SvcID  uint32
	DestID uint32

	// kindService
	Key         lvs.ServiceKey
	Scheduler   string
	Persistence uint32 // seconds
	Netmask     int

	// kindSched
	Slots uint32
	Hash  uint32

	// kindWeight
	Weight int32

	// kindDest
	Addr netip.Addr
	Port uint16
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
)

var infraNames = map[string]bool{infraPreJump: true, infraOutJump: true, infraMasq: true,
	infraPreIn: true, infraPreOut: true, infraOutIn: true, infraOutOut: true}

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
	case kindEnd:
		kv("id", r.SvcID)
	case kindSched:
		kv("id", r.SvcID)
		kv("n", r.Slots)
		fmt.Fprintf(&b, " h=%08x", r.Hash)
	case kindWeight:
		kv("id", r.SvcID)
		kv("d", r.DestID)
		kv("w", r.Weight)
	case kindDest:
		kv("id", r.SvcID)
		kv("d", r.DestID)
		kv("addr", r.Addr)
		kv("port", r.Port)
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
	case kindEnd:
		r.SvcID = p.id("id")
	case kindSched:
		r.SvcID = p.id("id")
		r.Slots = uint32(p.uint("n", 32))
		r.Hash = uint32(p.hex("h", 32))
	case kindWeight:
		r.SvcID = p.id("id")
		r.DestID = p.id("d")
		w := p.uint("w", 31)
		r.Weight = int32(w)
	case kindDest:
		r.SvcID = p.id("id")
		r.DestID = p.id("d")
		r.Addr = p.addr("addr")
		r.Port = uint16(p.uint("port", 16))
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

func (p *fieldParser) hex(k string, bits int) uint64 {
	v := p.str(k)
	if p.err != nil {
		return 0
	}
	n, err := strconv.ParseUint(v, 16, bits)
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

// slot is one destination's share of a scheduler's range: slots
// [First, First+Count) of the numgen/jhash modulus jump to its chain.
type slot struct {
	DestID uint32
	First  uint32
	Count  uint32
}

// layout is the scheduler slot table of a service: destinations in model
// order, each with weight w > 0 occupying w slots (wrr, sh) or one slot
// (rr, dh, which ignore weights other than 0).
func layout(sched string, ids []uint32, weights []int32) ([]slot, uint32) {
	var out []slot
	var next uint32
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		n := uint32(w)
		if sched == "rr" || sched == "dh" {
			n = 1
		}
		out = append(out, slot{DestID: ids[i], First: next, Count: n})
		next += n
	}
	return out, next
}

// layoutHash fingerprints a slot table, so Read can tell whether the
// scheduler rule in the kernel was built from the weights it reads back.
func layoutHash(slots []slot) uint32 {
	h := fnv.New32a()
	for _, s := range slots {
		fmt.Fprintf(h, "%d:%d:%d;", s.DestID, s.First, s.Count)
	}
	return h.Sum32()
}

// persistSetName names a destination's persistence set after the
// service's parameters, so a change of timeout or netmask builds a fresh
// set: p<svc>d<dest>_<seconds>_<mask>.
func persistSetName(svcID, destID uint32, persist uint32, mask int) string {
	return fmt.Sprintf("p%dd%d_%d_%d", svcID, destID, persist, mask)
}

// persistSetDest returns the destination ID in a persistence set name.
func persistSetDest(name string) (uint32, bool) {
	head, _, ok := strings.Cut(name, "_")
	if !ok || !strings.HasPrefix(head, "p") {
		return 0, false
	}
	_, d, ok := chainIDs("s" + head[1:])
	return d, ok && d != 0 && strings.Count(name, "_") == 2
}

func svcChainName(id uint32) string         { return "s" + strconv.FormatUint(uint64(id), 10) }
func destChainName(svc, dest uint32) string { return fmt.Sprintf("s%dd%d", svc, dest) }
func persistSeconds(d time.Duration) uint32 { return uint32(d / time.Second) }
func seconds(s uint32) time.Duration        { return time.Duration(s) * time.Second }

// chainIDs parses a chain name of this backend's scheme ("s12", "s12d40")
// into its IDs; ok is false for other names.
func chainIDs(name string) (svc, dest uint32, ok bool) {
	num := func(s string) (uint32, bool) {
		if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
			return 0, false
		}
		n, err := strconv.ParseUint(s, 10, 31)
		return uint32(n), err == nil && n != 0
	}
	rest, found := strings.CutPrefix(name, "s")
	if !found {
		return 0, 0, false
	}
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		s, ok1 := num(rest[:i])
		d, ok2 := num(rest[i+1:])
		return s, d, ok1 && ok2
	}
	s, ok := num(rest)
	return s, 0, ok
}
