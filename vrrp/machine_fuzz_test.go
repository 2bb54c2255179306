package vrrp

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// FuzzMachine drives a Machine with an arbitrary event sequence (raw
// packets, well-formed adverts, timers, priorities, faults, sync moves,
// shutdown) and checks invariants after every step: no panic, VIPs are
// held exactly while MASTER, the right timer is armed in each state, and
// every drop is counted.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, false)
	f.Add([]byte{1, 200, 1, 0, 2, 1, 3, 0, 1, 50, 4, 1, 4, 0, 7}, true)
	f.Add([]byte{5, 2, 6, 1, 5, 1, 0, 0, 3, 255}, false)
	f.Fuzz(func(t *testing.T, script []byte, v2 bool) {
		cfg := v3cfg(100, 100*ms)
		cfg.PreemptDelay = 300 * ms
		if v2 {
			cfg = v2cfg(100)
			cfg.AuthPass = "pw"
		}
		m, err := NewMachine(cfg, netip.MustParseAddr("192.0.2.2"))
		if err != nil {
			t.Fatal(err)
		}
		r := &rig{t: t, m: m, self: netip.MustParseAddr("192.0.2.2")}
		now := t0
		vips := false
		var drops uint64
		check := func(acts []Action) {
			for _, a := range acts {
				switch a := a.(type) {
				case ActAddVIPs:
					vips = true
				case ActRemoveVIPs:
					vips = false
				case ActDrop:
					drops++
					if a.Reason == "" {
						t.Fatalf("drop without reason")
					}
				case ActSetTimer:
					if a.At.Before(now) {
						t.Fatalf("timer %v armed in the past", a.Kind)
					}
				}
			}
			st := m.State()
			if vips != (st == StateMaster) {
				t.Fatalf("VIPs held %v in %v", vips, st)
			}
			armed := func(k TimerKind) bool { return !m.Deadline(k).IsZero() }
			switch st {
			case StateBackup:
				if !armed(TimerMasterDown) || armed(TimerAdvert) {
					t.Fatalf("BACKUP timers: down %v advert %v", armed(TimerMasterDown), armed(TimerAdvert))
				}
			case StateMaster:
				if !armed(TimerAdvert) || armed(TimerMasterDown) {
					t.Fatalf("MASTER timers: down %v advert %v", armed(TimerMasterDown), armed(TimerAdvert))
				}
			case StateFault, StateStopped:
				for k := range numTimers {
					if armed(k) {
						t.Fatalf("%v with timer %v armed", st, k)
					}
				}
			}
			if p := m.Priority(); p < 1 || p > 255 {
				t.Fatalf("priority %d", p)
			}
			if c := m.Counters(); c.TotalDrops() != drops {
				t.Fatalf("drops counted %d, reported %d", c.TotalDrops(), drops)
			}
		}
		check(m.Step(EvStart{Now: now}))
		for len(script) >= 2 {
			op, arg := script[0], script[1]
			script = script[2:]
			now = now.Add(time.Duration(arg) * 7 * ms)
			var ev Event
			switch op % 9 {
			case 0: // raw bytes as a packet
				n := min(int(arg)%64, len(script))
				ev = EvPacket{Now: now, Src: netip.MustParseAddr("192.0.2.9"), Dst: GroupIPv4, TTL: 255, Data: script[:n]}
				script = script[n:]
			case 1: // a valid advert at priority arg
				ev = r.advert(now, "192.0.2.9", int(arg))
			case 2: // advert from a lower address
				ev = r.advert(now, "192.0.2.1", int(arg))
			case 3: // the armed timer of kind arg fires (now catches up)
				k := TimerKind(int(arg) % int(numTimers))
				if dl := m.Deadline(k); !dl.IsZero() {
					now = dl
				}
				ev = EvTimer{Now: now, Kind: k}
			case 4:
				base := int(arg)%255 + 1
				ev = EvPriority{Now: now, Base: base, Effective: base + int(int8(arg))}
			case 5:
				ev = EvFault{Now: now, Fault: arg%2 == 1, Reason: "fuzz"}
			case 6:
				ev = EvSync{Now: now, To: State(arg % 5), Reason: "fuzz"}
			case 7:
				ev = EvShutdown{Now: now}
			case 8: // corrupted advert
				e := r.advert(now, "192.0.2.9", 200)
				if len(e.Data) > 0 {
					i := int(arg) % len(e.Data)
					e.Data[i] ^= byte(binary.BigEndian.Uint16([]byte{arg, op}) | 1)
				}
				ev = e
			}
			check(m.Step(ev))
		}
	})
}
