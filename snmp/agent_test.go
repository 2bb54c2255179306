package snmp

import (
	"context"
	"net"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// fakeMaster is the master side of AgentX over a unix socket: it
// accepts the subagent's connections and lets a test drive them.
type fakeMaster struct {
	t    *testing.T
	ln   net.Listener
	path string
}

func newFakeMaster(t *testing.T) *fakeMaster {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeMaster{t: t, ln: ln, path: path}
}

// masterConn is one accepted subagent connection.
type masterConn struct {
	t       *testing.T
	c       net.Conn
	session uint32
	pkt     uint32
	// registered subtrees, in order.
	subtrees []OID
	// order is the byte order the master's own PDUs use.
	nbo bool
}

func (m *fakeMaster) accept() *masterConn {
	m.t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := m.ln.Accept(); ch <- res{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			m.t.Fatal(r.err)
		}
		m.t.Cleanup(func() { r.c.Close() })
		return &masterConn{t: m.t, c: r.c, session: 4242}
	case <-time.After(10 * time.Second):
		m.t.Fatal("the subagent did not connect")
	}
	return nil
}

func (mc *masterConn) read() *PDU {
	mc.t.Helper()
	_ = mc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := ReadPDU(mc.c)
	if err != nil {
		mc.t.Fatalf("master read: %v", err)
	}
	return p
}

func (mc *masterConn) write(p *PDU) {
	mc.t.Helper()
	if mc.nbo {
		p.Flags |= FlagNetworkByteOrder
	}
	b, err := Encode(p)
	if err != nil {
		mc.t.Fatal(err)
	}
	if _, err := mc.c.Write(b); err != nil {
		mc.t.Fatalf("master write: %v", err)
	}
}

func (mc *masterConn) reply(req *PDU, errCode uint16) {
	mc.write(&PDU{Type: PDUResponse, SessionID: mc.session, TransactionID: req.TransactionID, PacketID: req.PacketID, Error: errCode})
}

// handshake answers Open and the n Registers that follow; refuse names
// subtrees to refuse with duplicateRegistration.
func (mc *masterConn) handshake(n int, refuse ...OID) {
	mc.t.Helper()
	open := mc.read()
	if open.Type != PDUOpen || open.Flags&FlagNetworkByteOrder == 0 {
		mc.t.Fatalf("first PDU %s flags %#x, want Open in network byte order", open.Type, open.Flags)
	}
	if open.ID.Compare(OIDKeepalived) != 0 || string(open.Descr) != "quadrature" {
		mc.t.Errorf("Open id %s descr %q", open.ID, open.Descr)
	}
	mc.reply(open, ErrNone)
	for i := 0; i < n; i++ {
		r := mc.read()
		if r.Type != PDURegister {
			mc.t.Fatalf("PDU %d after Open is %s, want Register", i, r.Type)
		}
		if r.SessionID != mc.session {
			mc.t.Errorf("Register in session %d, want %d", r.SessionID, mc.session)
		}
		code := ErrNone
		for _, o := range refuse {
			if o.Compare(r.Subtree) == 0 {
				code = ErrDuplicateRegistration
			}
		}
		if code == ErrNone {
			mc.subtrees = append(mc.subtrees, r.Subtree)
		}
		mc.reply(r, code)
	}
}

// request sends a request and returns the subagent's response.
func (mc *masterConn) request(p *PDU) *PDU {
	mc.t.Helper()
	mc.pkt++
	p.SessionID, p.TransactionID, p.PacketID = mc.session, 900+mc.pkt, mc.pkt
	mc.write(p)
	for {
		r := mc.read()
		if r.Type == PDUPing {
			mc.reply(r, ErrNone)
			continue
		}
		if r.Type != PDUResponse || r.PacketID != p.PacketID || r.TransactionID != p.TransactionID || r.SessionID != mc.session {
			mc.t.Fatalf("answer to %s: %s packet %d transaction %d session %d", p.Type, r.Type, r.PacketID, r.TransactionID, r.SessionID)
		}
		return r
	}
}

func startAgent(t *testing.T, opts Options, src Source) (*Agent, context.CancelFunc, <-chan error) {
	t.Helper()
	a, err := New(opts, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return a, cancel, done
}

func testOptions(path string) Options {
	return Options{Socket: path, MIBs: allMIBs, Traps: true, Timeout: 2 * time.Second,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond, PingInterval: -1}
}

func TestAgentServesFakeMaster(t *testing.T) {
	m := newFakeMaster(t)
	src := &memSource{snap: fixture(3, time.Now().Add(-time.Minute))}
	startAgent(t, testOptions(m.path), src)
	mc := m.accept()
	mc.handshake(5)
	want := []OID{OIDKeepalivedGlobal, OIDKeepalivedVRRP, OIDKeepalivedCheck, OIDVRRPv2, OIDVRRPv3}
	if !reflect.DeepEqual(mc.subtrees, want) {
		t.Fatalf("registered %v, want %v", mc.subtrees, want)
	}
	tbl := BuildTable(fixture(3, time.Now()), allMIBs, true, time.Now())

	for _, nbo := range []bool{true, false} {
		mc.nbo = nbo
		// Get: a value, a missing instance, a missing object.
		r := mc.request(&PDU{Type: PDUGet, Ranges: []SearchRange{
			{Start: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.2.1")},
			{Start: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.2.77")},
			{Start: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.99.1")},
		}})
		if r.Error != ErrNone || len(r.VarBinds) != 3 {
			t.Fatalf("Get: error %d, %d varbinds", r.Error, len(r.VarBinds))
		}
		if v := r.VarBinds[0]; v.Type != TypeOctetString || string(v.Value.([]byte)) != "VI_1" {
			t.Errorf("Get name: %+v", v)
		}
		if r.VarBinds[1].Type != TypeNoSuchInstance || r.VarBinds[2].Type != TypeNoSuchObject {
			t.Errorf("Get missing: %v %v", r.VarBinds[1].Type, r.VarBinds[2].Type)
		}

		// GetNext with include, without, and bounded by an end.
		r = mc.request(&PDU{Type: PDUGetNext, Ranges: []SearchRange{
			{Start: MustOID("1.3.6.1.4.1.9586.100.5.1.1.0"), Include: true},
			{Start: MustOID("1.3.6.1.4.1.9586.100.5.1.1.0")},
			{Start: MustOID("1.3.6.1.2.1.207.1.2.5.1.13"), End: MustOID("1.3.6.1.2.1.207.2")},
		}})
		names := []string{"1.3.6.1.4.1.9586.100.5.1.1.0", "1.3.6.1.4.1.9586.100.5.1.2.0", "1.3.6.1.2.1.207.1.2.5.1.13"}
		types := []VarType{TypeOctetString, TypeOctetString, TypeEndOfMibView}
		for i, v := range r.VarBinds {
			if v.Name.String() != names[i] || v.Type != types[i] {
				t.Errorf("GetNext %d: %s %d, want %s %d", i, v.Name, v.Type, names[i], types[i])
			}
		}

		// GetBulk: one non-repeater, then walk the VRRPv3 MIB 500 at a
		// time; the answers must be the table's rows in order.
		r = mc.request(&PDU{Type: PDUGetBulk, NonRepeaters: 1, MaxRepetitions: 500, Ranges: []SearchRange{
			{Start: MustOID("1.3.6.1.4.1.9586.100.5.1.2.0"), Include: true},
			{Start: OIDVRRPv3, End: MustOID("1.3.6.1.2.1.208")},
		}})
		var v3 []VarBind
		for _, v := range tbl.Vars() {
			if v.Name.HasPrefix(OIDVRRPv3) {
				v3 = append(v3, v)
			}
		}
		if len(r.VarBinds) != 1+len(v3)+1 {
			t.Fatalf("GetBulk: %d varbinds, want %d", len(r.VarBinds), len(v3)+2)
		}
		if string(r.VarBinds[0].Value.([]byte)) != "lb1" {
			t.Errorf("GetBulk non-repeater: %+v", r.VarBinds[0])
		}
		for i, v := range v3 {
			g := r.VarBinds[1+i]
			if g.Name.Compare(v.Name) != 0 || g.Type != v.Type {
				t.Errorf("GetBulk %d: %s %d, want %s %d", i, g.Name, g.Type, v.Name, v.Type)
			}
		}
		if last := r.VarBinds[len(r.VarBinds)-1]; last.Type != TypeEndOfMibView {
			t.Errorf("GetBulk did not end with endOfMibView: %+v", last)
		}
	}

	// Nothing is writable.
	r := mc.request(&PDU{Type: PDUTestSet, VarBinds: []VarBind{{Type: TypeInteger, Name: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.7.1"), Value: int32(1)}}})
	if r.Error != ErrNotWritable || r.Index != 1 {
		t.Errorf("TestSet: error %d index %d, want notWritable at 1", r.Error, r.Index)
	}
}

func TestAgentReconnectsAndCloses(t *testing.T) {
	m := newFakeMaster(t)
	src := &memSource{snap: fixture(3, time.Now())}
	opts := testOptions(m.path)
	opts.MIBs = MIBs{VRRP: true, RFCv3: true}
	a, cancel, done := startAgent(t, opts, src)

	// First session: the master refuses the VRRPv3 subtree (another
	// subagent has it); the rest is served.
	mc := m.accept()
	mc.handshake(3, OIDVRRPv3)
	r := mc.request(&PDU{Type: PDUGet, Ranges: []SearchRange{{Start: MustOID("1.3.6.1.4.1.9586.100.5.1.2.0")}}})
	if string(r.VarBinds[0].Value.([]byte)) != "lb1" {
		t.Fatalf("Get: %+v", r.VarBinds[0])
	}
	if !a.Connected() || a.Sessions() != 1 {
		t.Fatalf("connected %v sessions %d", a.Connected(), a.Sessions())
	}
	// The master closes the session: the subagent comes back.
	mc.write(&PDU{Type: PDUClose, SessionID: mc.session, Reason: CloseByManager})
	mc.c.Close()

	mc2 := m.accept()
	mc2.session = 4343
	mc2.handshake(3)
	r = mc2.request(&PDU{Type: PDUGetNext, Ranges: []SearchRange{{Start: OIDVRRPv3}}})
	if r.VarBinds[0].Type == TypeEndOfMibView || !r.VarBinds[0].Name.HasPrefix(OIDVRRPv3) {
		t.Fatalf("GetNext after reconnect: %+v", r.VarBinds[0])
	}
	// The master drops the connection without a word: back again.
	mc2.c.Close()
	mc3 := m.accept()
	mc3.handshake(3)
	for deadline := time.Now().Add(5 * time.Second); a.Sessions() != 3; {
		if time.Now().After(deadline) {
			t.Fatalf("sessions %d, want 3", a.Sessions())
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Shutdown sends Close(shutdown) and Run returns nil.
	cancel()
	p := mc3.read()
	if p.Type != PDUClose || p.Reason != CloseShutdown || p.SessionID != mc3.session {
		t.Fatalf("on shutdown: %s reason %d session %d", p.Type, p.Reason, p.SessionID)
	}
	mc3.reply(p, ErrNone)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestAgentPingTimeout(t *testing.T) {
	m := newFakeMaster(t)
	opts := testOptions(m.path)
	opts.MIBs = MIBs{RFCv3: true}
	opts.PingInterval = 20 * time.Millisecond
	opts.Timeout = 200 * time.Millisecond
	a, _, _ := startAgent(t, opts, &memSource{})
	mc := m.accept()
	mc.handshake(1)
	// A master that answers nothing more: the subagent pings, gives up
	// and connects again.
	p := mc.read()
	if p.Type != PDUPing || p.SessionID != mc.session {
		t.Fatalf("idle session sent %s (session %d), want Ping", p.Type, p.SessionID)
	}
	mc2 := m.accept()
	mc2.handshake(1)
	// This one answers the pings and keeps the session.
	for i := 0; i < 3; i++ {
		p := mc2.read()
		if p.Type != PDUPing {
			t.Fatalf("got %s, want Ping", p.Type)
		}
		mc2.reply(p, ErrNone)
	}
	if a.Sessions() != 2 || !a.Connected() {
		t.Fatalf("sessions %d connected %v, want 2 and connected", a.Sessions(), a.Connected())
	}
}

func TestAgentCache(t *testing.T) {
	m := newFakeMaster(t)
	src := &memSource{snap: fixture(3, time.Now())}
	opts := testOptions(m.path)
	opts.MIBs = MIBs{VRRP: true}
	opts.CacheTTL = time.Hour
	startAgent(t, opts, src)
	mc := m.accept()
	mc.handshake(2)
	get := func() string {
		r := mc.request(&PDU{Type: PDUGet, Ranges: []SearchRange{{Start: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.2.1")}}})
		return string(r.VarBinds[0].Value.([]byte))
	}
	if get() != "VI_1" {
		t.Fatal("first Get")
	}
	src.set(func(s *Snapshot) { s.Instances[0].Name = "renamed" })
	for i := 0; i < 3; i++ {
		if g := get(); g != "VI_1" {
			t.Fatalf("cached Get %d = %q, want the cached VI_1", i, g)
		}
	}
	if n := src.count(); n != 1 {
		t.Errorf("Snapshot called %d times within the TTL, want 1", n)
	}
}

func TestNotifyStateChange(t *testing.T) {
	m := newFakeMaster(t)
	src := &memSource{snap: fixture(3, time.Now())}
	opts := testOptions(m.path)
	a, _, _ := startAgent(t, opts, src)

	vi2 := src.snap.Instances[1]
	vi2.State = StateMaster
	// No session yet (the master has not answered Open): dropped.
	if err := a.NotifyStateChange(vi2); err != ErrNotConnected {
		t.Fatalf("before the session: %v, want ErrNotConnected", err)
	}
	mc := m.accept()
	mc.handshake(5)
	for deadline := time.Now().Add(5 * time.Second); !a.Connected(); {
		if time.Now().After(deadline) {
			t.Fatal("not connected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// VI_2 (VRRPv2, IPv4) became master: keepalived's trap, then RFC
	// 2787's newMaster.
	if err := a.NotifyStateChange(vi2); err != nil {
		t.Fatal(err)
	}
	var notes []*PDU
	for len(notes) < 2 {
		p := mc.read()
		if p.Type != PDUNotify {
			t.Fatalf("got %s, want Notify", p.Type)
		}
		mc.reply(p, ErrNone)
		notes = append(notes, p)
	}
	ka := notes[0].VarBinds
	wantKA := []VarBind{
		{Type: TypeObjectIdentifier, Name: MustOID("1.3.6.1.6.3.1.1.4.1.0"), Value: MustOID("1.3.6.1.4.1.9586.100.5.2.10.0.2")},
		{Type: TypeOctetString, Name: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.2.2"), Value: []byte("VI_2")},
		{Type: TypeInteger, Name: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.4.2"), Value: int32(2)},
		{Type: TypeInteger, Name: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.5.2"), Value: int32(1)},
		{Type: TypeOctetString, Name: MustOID("1.3.6.1.4.1.9586.100.5.1.2.0"), Value: []byte("lb1")},
	}
	if !reflect.DeepEqual(ka, wantKA) {
		t.Errorf("keepalived trap:\n got %+v\nwant %+v", ka, wantKA)
	}
	wantV2 := []VarBind{
		{Type: TypeObjectIdentifier, Name: MustOID("1.3.6.1.6.3.1.1.4.1.0"), Value: MustOID("1.3.6.1.2.1.68.0.1")},
		{Type: TypeIPAddress, Name: MustOID("1.3.6.1.2.1.68.1.3.1.7.3.52"), Value: [4]byte{192, 0, 2, 1}},
	}
	if !reflect.DeepEqual(notes[1].VarBinds, wantV2) {
		t.Errorf("RFC 2787 trap:\n got %+v\nwant %+v", notes[1].VarBinds, wantV2)
	}

	// A change to BACKUP sends only keepalived's trap.
	vi2.State = StateBackup
	if err := a.NotifyStateChange(vi2); err != nil {
		t.Fatal(err)
	}
	p := mc.read()
	mc.reply(p, ErrNone)
	if p.Type != PDUNotify || len(p.VarBinds) != 5 || p.VarBinds[2].Value != int32(1) {
		t.Errorf("backup trap: %s %+v", p.Type, p.VarBinds)
	}
	// The next PDU is the answer to a request, not another Notify.
	r := mc.request(&PDU{Type: PDUGet, Ranges: []SearchRange{{Start: MustOID("1.3.6.1.4.1.9586.100.5.1.4.0")}}})
	if v := r.VarBinds[0]; v.Type != TypeInteger || v.Value != int32(1) {
		t.Errorf("trapEnable: %+v", v)
	}
}

func TestNotifyWithoutTraps(t *testing.T) {
	in := fixture(3, time.Now()).Instances[0]
	off, err := New(Options{MIBs: allMIBs}, &memSource{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := off.NotifyStateChange(in); err != nil {
		t.Errorf("traps off: %v, want nil (nothing to send)", err)
	}
	on, err := New(Options{MIBs: allMIBs, Traps: true}, &memSource{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := on.NotifyStateChange(in); err != ErrNotConnected {
		t.Errorf("traps on, no session: %v, want ErrNotConnected", err)
	}
	// Only the RFC MIBs and a backup: nothing to send.
	rfc, err := New(Options{MIBs: MIBs{RFCv2: true, RFCv3: true}, Traps: true}, &memSource{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in.State = StateBackup
	if err := rfc.NotifyStateChange(in); err != nil {
		t.Errorf("RFC MIBs, backup: %v, want nil", err)
	}
}

func TestNewRejects(t *testing.T) {
	src := &memSource{}
	if _, err := New(Options{}, src, nil); err == nil {
		t.Error("New accepted no MIB")
	}
	if _, err := New(Options{MIBs: MIBs{VRRP: true}}, nil, nil); err == nil {
		t.Error("New accepted a nil Source")
	}
	for _, s := range []string{"udp:1.2.3.4:705", "tcp:nohost", "relative/path", "unix:"} {
		if _, err := New(Options{Socket: s, MIBs: MIBs{VRRP: true}}, src, nil); err == nil {
			t.Errorf("New accepted socket %q", s)
		}
	}
	for in, want := range map[string][2]string{
		"":                  {"unix", DefaultSocket},
		"/run/agentx":       {"unix", "/run/agentx"},
		"unix:/run/agentx":  {"unix", "/run/agentx"},
		"tcp:127.0.0.1:705": {"tcp", "127.0.0.1:705"},
		"tcp:[::1]:705":     {"tcp", "[::1]:705"},
	} {
		n, a, err := ParseSocket(in)
		if err != nil || n != want[0] || a != want[1] {
			t.Errorf("ParseSocket(%q) = %s %s %v, want %v", in, n, a, err, want)
		}
	}
}

func TestAgentTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("loopback TCP: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	m := &fakeMaster{t: t, ln: ln}
	opts := testOptions("tcp:" + ln.Addr().String())
	opts.MIBs = MIBs{Checker: true}
	startAgent(t, opts, &memSource{snap: fixture(3, time.Now())})
	mc := m.accept()
	mc.handshake(2)
	r := mc.request(&PDU{Type: PDUGet, Ranges: []SearchRange{{Start: MustOID("1.3.6.1.4.1.9586.100.5.3.3.1.7.1")}}})
	if v := r.VarBinds[0]; v.Type != TypeGauge32 || v.Value != uint32(80) {
		t.Errorf("virtualServerPort over TCP: %+v", v)
	}
}

func TestAgentWithoutMaster(t *testing.T) {
	// Nothing listens: Run keeps retrying and returns nil when stopped.
	opts := testOptions(filepath.Join(t.TempDir(), "absent.sock"))
	a, err := New(opts, &memSource{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	if a.Connected() || a.Sessions() != 0 {
		t.Errorf("connected %v sessions %d without a master", a.Connected(), a.Sessions())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}
