package snmp

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func lookup(t *testing.T, tbl *Table, oid string) VarBind {
	t.Helper()
	return tbl.Get(MustOID(oid))
}

func TestBuildTableValues(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tbl := BuildTable(fixture(3, now.Add(-12*time.Second)), allMIBs, false, now)
	for oid, want := range map[string]VarBind{
		"1.3.6.1.4.1.9586.100.5.1.4.0":        {Type: TypeInteger, Value: int32(2)}, // traps disabled
		"1.3.6.1.4.1.9586.100.5.2.3.1.3.1":    {Type: TypeGauge32, Value: uint32(51)},
		"1.3.6.1.4.1.9586.100.5.2.3.1.4.3":    {Type: TypeInteger, Value: int32(3)}, // fault
		"1.3.6.1.4.1.9586.100.5.2.3.1.12.3":   {Type: TypeGauge32, Value: uint32(50)},
		"1.3.6.1.4.1.9586.100.5.2.3.1.15.1":   {Type: TypeInteger, Value: int32(0)}, // v3: no auth
		"1.3.6.1.4.1.9586.100.5.2.6.1.2.3.1":  {Type: TypeInteger, Value: int32(2)}, // ipv6
		"1.3.6.1.4.1.9586.100.5.2.6.1.3.3.1":  {Type: TypeOctetString, Value: netip.MustParseAddr("2001:db8::53").AsSlice()},
		"1.3.6.1.4.1.9586.100.5.2.6.1.7.1.1":  {Type: TypeInteger, Value: int32(3)},
		"1.3.6.1.4.1.9586.100.5.3.3.1.9.2":    {Type: TypeInteger, Value: int32(8)}, // sh
		"1.3.6.1.4.1.9586.100.5.3.3.1.8.2":    {Type: TypeInteger, Value: int32(4)}, // no protocol
		"1.3.6.1.4.1.9586.100.5.3.3.1.10.2":   {Type: TypeInteger, Value: int32(3)}, // tun
		"1.3.6.1.4.1.9586.100.5.3.3.1.13.2":   {Type: TypeInteger, Value: int32(2)}, // no persistence
		"1.3.6.1.4.1.9586.100.5.3.3.1.23.2":   {Type: TypeInteger, Value: int32(2)}, // quorum not met
		"1.3.6.1.4.1.9586.100.5.3.3.1.35.1":   {Type: TypeGauge32, Value: uint32(1<<32 - 1)},
		"1.3.6.1.4.1.9586.100.5.3.3.1.64.1":   {Type: TypeGauge32, Value: uint32(6000000)},
		"1.3.6.1.4.1.9586.100.5.3.4.1.20.1.1": {Type: TypeCounter64, Value: uint64(99)},
		// RFC 6527: uptime in ticks, the IPv6 instance's primary address
		// is left out (none given), statistics without counters.
		"1.3.6.1.2.1.207.1.1.1.1.12.3.51.1": {Type: TypeTimeTicks, Value: uint32(1200)},
		"1.3.6.1.2.1.207.1.1.1.1.12.3.53.2": {Type: TypeTimeTicks, Value: uint32(0)}, // fault: 0
		"1.3.6.1.2.1.207.1.1.1.1.5.3.53.2":  {Type: TypeOctetString, Value: []byte{0, 0, 0x5e, 0, 2, 53}},
		"1.3.6.1.2.1.207.1.2.5.1.2.3.53.2":  {Type: TypeInteger, Value: int32(0)},
		"1.3.6.1.2.1.207.1.2.2.0":           {Type: TypeCounter64, Value: uint64(0)},
		// RFC 2787
		"1.3.6.1.2.1.68.1.2.0":         {Type: TypeInteger, Value: int32(2)},
		"1.3.6.1.2.1.68.1.3.1.5.3.52":  {Type: TypeInteger, Value: int32(90)},
		"1.3.6.1.2.1.68.1.3.1.10.3.52": {Type: TypeOctetString, Value: []byte{}},
	} {
		got := lookup(t, tbl, oid)
		want.Name = MustOID(oid)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %+v, want %+v", oid, got, want)
		}
	}
	for _, oid := range []string{
		"1.3.6.1.2.1.207.1.1.1.1.4.3.53.2",    // no primary address given
		"1.3.6.1.2.1.207.1.2.5.1.3.3.53.2",    // no counters
		"1.3.6.1.2.1.207.1.1.1.1.6.3.52.1",    // v2 instance not in RFC 6527
		"1.3.6.1.2.1.68.1.3.1.3.3.51",         // v3 instance not in RFC 2787
		"1.3.6.1.4.1.9586.100.5.3.3.1.14.2",   // no persistence timeout
		"1.3.6.1.4.1.9586.100.5.3.3.1.27.2",   // no stats
		"1.3.6.1.4.1.9586.100.5.3.4.1.14.1.2", // no rs stats
	} {
		if v := lookup(t, tbl, oid); v.Type != TypeNoSuchInstance {
			t.Errorf("%s = %+v, want noSuchInstance", oid, v)
		}
	}
}

func TestSyncGroups(t *testing.T) {
	s := fixture(3, time.Now())
	s.Instances[0].SyncGroup = "G2"
	s.Instances[2].SyncGroup = "G1"
	tbl := BuildTable(s, MIBs{VRRP: true}, false, time.Now())
	var got []string
	for _, v := range tbl.Vars() {
		if v.Name.HasPrefix(MustOID("1.3.6.1.4.1.9586.100.5.2.1")) || v.Name.HasPrefix(MustOID("1.3.6.1.4.1.9586.100.5.2.2")) {
			got = append(got, v.Name.String()+"="+string(v.Value.([]byte)))
		}
	}
	// Groups numbered by first appearance; members by position in
	// their group.
	want := []string{
		"1.3.6.1.4.1.9586.100.5.2.1.1.2.1=G2",
		"1.3.6.1.4.1.9586.100.5.2.1.1.2.2=G1",
		"1.3.6.1.4.1.9586.100.5.2.2.1.2.1.1=VI_1",
		"1.3.6.1.4.1.9586.100.5.2.2.1.2.2.1=VI_2",
		"1.3.6.1.4.1.9586.100.5.2.2.1.2.2.2=VI_6",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sync groups:\n got %v\nwant %v", got, want)
	}
}

func TestBuildTableMIBSelection(t *testing.T) {
	s := fixture(3, time.Now())
	count := func(m MIBs, root OID) int {
		n := 0
		for _, v := range BuildTable(s, m, true, time.Now()).Vars() {
			if v.Name.HasPrefix(root) {
				n++
			}
		}
		return n
	}
	if count(MIBs{Checker: true}, OIDKeepalivedVRRP) != 0 || count(MIBs{Checker: true}, OIDKeepalivedCheck) == 0 {
		t.Error("checker only: want the check group and no vrrp group")
	}
	if count(MIBs{VRRP: true}, OIDKeepalivedCheck) != 0 || count(MIBs{VRRP: true}, OIDKeepalivedGlobal) != 3 {
		t.Error("vrrp only: want the global group and no check group")
	}
	if count(MIBs{RFCv3: true}, OIDKeepalived) != 0 || count(MIBs{RFCv3: true}, OIDVRRPv2) != 0 {
		t.Error("RFCv3 only: want nothing else")
	}
	if got := (MIBs{VRRP: true, Checker: true}).Subtrees(); !reflect.DeepEqual(got, []OID{OIDKeepalivedGlobal, OIDKeepalivedVRRP, OIDKeepalivedCheck}) {
		t.Errorf("Subtrees = %v", got)
	}
	// Two instances on the same ifIndex and VRID (a misconfigured
	// Source) still give a well-formed, strictly ordered table.
	s.Instances = append(s.Instances, s.Instances[0])
	vars := BuildTable(s, allMIBs, true, time.Now()).Vars()
	for i := 1; i < len(vars); i++ {
		if vars[i-1].Name.Compare(vars[i].Name) >= 0 {
			t.Fatalf("not strictly ordered at %s, %s", vars[i-1].Name, vars[i].Name)
		}
	}
}

func TestTableNextAndBulk(t *testing.T) {
	b := &tableBuilder{}
	b.object(MustOID("1.3.6.1.4.1.1.1"))
	for _, o := range []string{"1.3.6.1.4.1.1.1.0", "1.3.6.1.4.1.1.2.1", "1.3.6.1.4.1.1.2.2", "1.3.6.1.4.1.2.0"} {
		b.str(MustOID(o), o)
	}
	tbl := b.build()
	next := func(start string, include bool, end string) string {
		var e OID
		if end != "" {
			e = MustOID(end)
		}
		v := tbl.Next(SearchRange{Start: MustOID(start), Include: include, End: e})
		if v.Type == TypeEndOfMibView {
			return "end:" + v.Name.String()
		}
		return v.Name.String()
	}
	for _, c := range []struct {
		start   string
		include bool
		end     string
		want    string
	}{
		{"1.3.6.1.4.1.1.1.0", true, "", "1.3.6.1.4.1.1.1.0"},
		{"1.3.6.1.4.1.1.1.0", false, "", "1.3.6.1.4.1.1.2.1"},
		{"1.3.6.1.4.1.1", false, "", "1.3.6.1.4.1.1.1.0"},
		{"1.3.6.1.4.1.1.2.2", false, "1.3.6.1.4.1.2", "end:1.3.6.1.4.1.1.2.2"},
		{"1.3.6.1.4.1.1.2.2", false, "", "1.3.6.1.4.1.2.0"},
		{"1.3.6.1.4.1.2.0", false, "", "end:1.3.6.1.4.1.2.0"},
		{"1.3.6.1.4.1.1.2", true, "1.3.6.1.4.1.1.2.1", "end:1.3.6.1.4.1.1.2"}, // end is exclusive
	} {
		if got := next(c.start, c.include, c.end); got != c.want {
			t.Errorf("Next(%s include=%v end=%s) = %s, want %s", c.start, c.include, c.end, got, c.want)
		}
	}
	if v := tbl.Get(MustOID("1.3.6.1.4.1.1.1.5")); v.Type != TypeNoSuchInstance {
		t.Errorf("Get under an object: %v", v.Type)
	}
	if v := tbl.Get(MustOID("1.3.6.1.4.1.1.1")); v.Type != TypeNoSuchObject {
		t.Errorf("Get of the object itself: %v", v.Type)
	}

	// Two repeaters: the second runs out first and keeps answering
	// endOfMibView while the first goes on.
	ranges := []SearchRange{
		{Start: MustOID("1.3.6.1.4.1")},
		{Start: MustOID("1.3.6.1.4.1.1.2.1"), End: MustOID("1.3.6.1.4.1.1.3")},
	}
	got := tbl.Bulk(ranges, 0, 3)
	want := []string{
		"1.3.6.1.4.1.1.1.0", "1.3.6.1.4.1.1.2.2",
		"1.3.6.1.4.1.1.2.1", "end:1.3.6.1.4.1.1.2.2",
		"1.3.6.1.4.1.1.2.2", "end:1.3.6.1.4.1.1.2.2",
	}
	if len(got) != len(want) {
		t.Fatalf("Bulk: %d varbinds, want %d", len(got), len(want))
	}
	for i, v := range got {
		s := v.Name.String()
		if v.Type == TypeEndOfMibView {
			s = "end:" + s
		}
		if s != want[i] {
			t.Errorf("Bulk[%d] = %s, want %s", i, s, want[i])
		}
	}
	// All repeaters at the end: stop early. Non-repeaters beyond the
	// list are clamped; zero repetitions give the non-repeaters only.
	if got := tbl.Bulk([]SearchRange{{Start: MustOID("1.3.6.1.4.1.2.0")}}, 0, 50); len(got) != 1 || got[0].Type != TypeEndOfMibView {
		t.Errorf("Bulk at the end: %+v", got)
	}
	if got := tbl.Bulk(ranges, 5, 10); len(got) != 2 {
		t.Errorf("Bulk with non-repeaters beyond the list: %d varbinds", len(got))
	}
	if got := tbl.Bulk(ranges, 1, 0); len(got) != 1 {
		t.Errorf("Bulk with no repetitions: %d varbinds", len(got))
	}
}
