package lvs

import (
	"net/netip"
	"testing"
	"time"
)

// keepalivedScale is the size of the large keepalived deployment the
// benchmark reproduces.
const (
	benchServices = 2277
	benchDests    = 37205
)

// keepalivedScaleTable builds a table of benchServices services and
// benchDests destinations in the documentation ranges, with a mix of
// schedulers, methods, persistence and weights.
func keepalivedScaleTable() Table {
	t := Table{Services: make([]Service, 0, benchServices)}
	per, extra := benchDests/benchServices, benchDests%benchServices
	scheds := []string{"wrr", "wlc", "rr", "lc", "sh"}
	n := 0
	for i := range benchServices {
		vip := netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i%200)})
		s := Service{
			Key:       ServiceKey{Family: IPv4, Protocol: TCP, Addr: vip, Port: uint16(1000 + i/200)},
			Scheduler: scheds[i%len(scheds)],
		}
		if i%7 == 0 {
			s.Persistence = 300 * time.Second
		}
		k := per
		if i < extra {
			k++
		}
		for j := range k {
			net3 := byte(100)
			if (n+j)%2 == 1 {
				net3 = 113
			}
			var rs netip.Addr
			if net3 == 100 {
				rs = netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + (i*17+j)%250)})
			} else {
				rs = netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + (i*17+j)%250)})
			}
			d := Destination{Addr: rs, Port: uint16(8000 + j), Weight: int32(1 + (i+j)%10), Method: NAT}
			if i%3 == 1 {
				d.Method, d.Port = DR, s.Key.Port // DR keeps the service port (ipvsadm forces it)
			}
			s.Destinations = append(s.Destinations, d)
		}
		n += k
		t.Services = append(t.Services, s)
	}
	return t
}

func TestKeepalivedScaleTableShape(t *testing.T) {
	tab := keepalivedScaleTable()
	n := 0
	for _, s := range tab.Services {
		n += len(s.Destinations)
	}
	if len(tab.Services) != benchServices || n != benchDests {
		t.Fatalf("%d services, %d destinations; want %d, %d", len(tab.Services), n, benchServices, benchDests)
	}
	if err := tab.Validate(); err != nil {
		t.Fatal(err)
	}
}
