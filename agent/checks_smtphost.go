package agent

import (
	"fmt"
	"time"

	"quadrature/checks"
	"quadrature/config"
)

// smtpHostSpecs expands an SMTP_CHECK with host { } blocks the way
// keepalived 2.2.7 does (check_smtp.c): every host is a checker of its own
// on the real server, so the real server is up only while all of them
// pass. The checker's own connection is one of them when the block sets
// one (connect_ip or connect_port other than the real server's, bindto,
// bind_port, bind_if, fwmark) or has no host; otherwise the first host
// takes its place. A host without connect_ip checks the real server's
// address, without connect_port its port; connect_timeout 0 inherits the
// checker's. Other checkers are returned as they are.
func smtpHostSpecs(rs *config.RealServer, ck *config.Checker, base checks.Spec) []checks.Spec {
	if ck.SMTP == nil || len(ck.SMTP.Hosts) == 0 {
		return []checks.Spec{base}
	}
	own := (ck.ConnectIP.IsValid() && ck.ConnectIP != rs.Addr) || (ck.ConnectPort != 0 && ck.ConnectPort != rs.Port) ||
		ck.BindTo.IsValid() || ck.BindPort != 0 || ck.BindIf != "" || ck.Fwmark != 0
	var out []checks.Spec
	if own {
		out = append(out, base)
	}
	for i, h := range ck.SMTP.Hosts {
		s := base
		s.ID = fmt.Sprintf("%s-host%d", base.ID, i+1)
		s.ConnectIP = h.ConnectIP
		if !s.ConnectIP.IsValid() {
			s.ConnectIP = rs.Addr
		}
		s.ConnectPort = h.ConnectPort
		if s.ConnectPort == 0 {
			s.ConnectPort = rs.Port
		}
		s.BindTo, s.BindPort, s.BindIf, s.FWMark = h.BindTo, h.BindPort, h.BindIf, h.Fwmark
		if h.ConnectTimeout > 0 {
			s.ConnectTimeout = time.Duration(h.ConnectTimeout * float64(time.Second))
		}
		helo := ck.SMTP.HeloName
		if h.HeloName != "" {
			helo = h.HeloName
		}
		s.SMTP = &checks.SMTPSpec{HeloName: helo}
		out = append(out, s)
	}
	return out
}
