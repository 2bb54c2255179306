package lvs

import (
	"fmt"
	"strings"
)

// Schedulers are the IPVS scheduler names keepalived accepts (lb_algo /
// lvs_sched). Which of them a kernel offers depends on its modules
// (ip_vs_<name>); twos, for example, is absent from Debian 12's 6.1 kernel.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}

// ParseScheduler validates a scheduler name (case-insensitive) and returns
// it in the kernel's lower-case spelling.
func ParseScheduler(s string) (string, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	for _, n := range Schedulers {
		if l == n {
			return n, nil
		}
	}
	return "", fmt.Errorf("lvs: unknown scheduler %q (want one of %s)", s, strings.Join(Schedulers, " "))
}

// ParseSchedFlag maps a keepalived scheduler flag keyword to its IPVS
// flag: flag-1/2/3, sh-fallback and mh-fallback (flag-1), sh-port and
// mh-port (flag-2). The scheduler name, when non-empty, must match the
// flag's prefix (sh-* needs sh, mh-* needs mh).
func ParseSchedFlag(sched, s string) (SchedFlags, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	var f SchedFlags
	var want string
	switch l {
	case "flag-1":
		f = SchedFlag1
	case "flag-2":
		f = SchedFlag2
	case "flag-3":
		f = SchedFlag3
	case "sh-fallback":
		f, want = SchedFlag1, "sh"
	case "sh-port":
		f, want = SchedFlag2, "sh"
	case "mh-fallback":
		f, want = SchedFlag1, "mh"
	case "mh-port":
		f, want = SchedFlag2, "mh"
	default:
		return 0, fmt.Errorf("lvs: unknown scheduler flag %q (want flag-1 flag-2 flag-3 sh-fallback sh-port mh-fallback mh-port)", s)
	}
	if want != "" && sched != "" && sched != want {
		return 0, fmt.Errorf("lvs: scheduler flag %q needs scheduler %s, not %s", s, want, sched)
	}
	return f, nil
}

// ParseMethod parses a forwarding method as keepalived spells it (lb_kind /
// lvs_method): NAT, DR or TUN, case-insensitive. keepalived's legacy alias
// "PAT" is not accepted.
func ParseMethod(s string) (Method, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "NAT", "MASQ", "MASQUERADE":
		return NAT, nil
	case "DR", "ROUTE", "GATE":
		return DR, nil
	case "TUN", "TUNNEL", "IPIP":
		return TUN, nil
	}
	return 0, fmt.Errorf("lvs: unknown forwarding method %q (want NAT, DR or TUN)", s)
}

// ParseTunnel parses the words after "TUN" in keepalived's lvs_method:
// "[type ipip|gue port N|gre] [nocsum|csum|remcsum]", for example
// ["type", "gue", "port", "6080", "remcsum"]. No words means ipip.
func ParseTunnel(words []string) (TunnelType, uint16, TunnelFlags, error) {
	t, port, flags := TunnelIPIP, uint16(0), TunnelFlags(0)
	sawType, sawCsum := false, false
	for i := 0; i < len(words); i++ {
		w := strings.ToLower(words[i])
		switch w {
		case "type":
			if sawType || i+1 >= len(words) {
				return 0, 0, 0, fmt.Errorf("lvs: tunnel: %q needs one of ipip gue gre", w)
			}
			sawType = true
			i++
			switch strings.ToLower(words[i]) {
			case "ipip":
				t = TunnelIPIP
			case "gre":
				t = TunnelGRE
			case "gue":
				t = TunnelGUE
				if i+2 >= len(words) || strings.ToLower(words[i+1]) != "port" {
					return 0, 0, 0, fmt.Errorf("lvs: tunnel type gue needs \"port N\"")
				}
				p, err := parsePort(words[i+2])
				if err != nil || p == 0 {
					return 0, 0, 0, fmt.Errorf("lvs: tunnel gue port %q: want 1-65535", words[i+2])
				}
				port = p
				i += 2
			default:
				return 0, 0, 0, fmt.Errorf("lvs: unknown tunnel type %q (want ipip gue gre)", words[i])
			}
		case "nocsum", "csum", "remcsum":
			if sawCsum {
				return 0, 0, 0, fmt.Errorf("lvs: tunnel: more than one checksum option")
			}
			sawCsum = true
			switch w {
			case "csum":
				flags = TunnelCsum
			case "remcsum":
				flags = TunnelRemCsum
			}
		default:
			return 0, 0, 0, fmt.Errorf("lvs: tunnel: unexpected %q", words[i])
		}
	}
	if flags != 0 && t == TunnelIPIP {
		return 0, 0, 0, fmt.Errorf("lvs: tunnel checksum options need type gue or gre")
	}
	if flags == TunnelRemCsum && t != TunnelGUE {
		return 0, 0, 0, fmt.Errorf("lvs: remcsum needs tunnel type gue")
	}
	return t, port, flags, nil
}

// ParseProtocol parses TCP, UDP or SCTP (case-insensitive).
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TCP":
		return TCP, nil
	case "UDP":
		return UDP, nil
	case "SCTP":
		return SCTP, nil
	}
	return 0, fmt.Errorf("lvs: unknown protocol %q (want TCP, UDP or SCTP)", s)
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("lvs: bad port %q", s)
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("lvs: bad port %q", s)
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, fmt.Errorf("lvs: port %q out of range", s)
	}
	return uint16(n), nil
}
