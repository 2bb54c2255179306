package lvs

import (
	"net/netip"
	"time"
)

// ScaleServices and ScaleDests are the size of a large keepalived
// deployment (2,277 virtual services, 37,205 real servers) that the
// benchmarks and scale tests of the data planes reproduce.
const (
	ScaleServices = 2277
	ScaleDests    = 37205
)

// ScaleTable builds a table of ScaleServices services and ScaleDests
// destinations in the documentation ranges, with a mix of
// schedulers, methods, persistence and weights.
func ScaleTable() Table {
	t := Table{Services: make([]Service, 0, ScaleServices)}
	per, extra := ScaleDests/ScaleServices, ScaleDests%ScaleServices
	scheds := []string{"wrr", "wlc", "rr", "lc", "sh"}
	n := 0
	for i := range ScaleServices {
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
