package agent

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"quadrature/checks"
	"quadrature/config"
	"quadrature/fsm"
)

// RealServerID is the identity of a real server across the group: the
// fsm's virtual server identity and the real server's address and port.
func RealServerID(vs *config.VirtualServer, rs *config.RealServer) fsm.RSID {
	return fsm.RSID{VS: vs.ID(), RS: netip.AddrPortFrom(rs.Addr, rs.Port)}
}

// CheckSpecs converts every real server of the configuration into the
// checks package's specs, and returns the map from the checks package's
// real-server IDs to the fsm identities. Track files resolve through the
// config's track_file blocks.
func CheckSpecs(c *config.Config) ([]checks.RealServerSpec, map[string]fsm.RSID) {
	index := map[string]fsm.RSID{}
	files := map[string]config.TrackFile{}
	for _, f := range c.TrackFiles {
		files[f.Name] = f
	}
	var out []checks.RealServerSpec
	for i := range c.VirtualServers {
		vs := &c.VirtualServers[i]
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			id := RealServerID(vs, rs)
			key := id.VS + " " + id.RS.String()
			index[key] = id
			spec := checks.RealServerSpec{
				ID:     key,
				Weight: rs.Weight,
				Alpha:  rs.Alpha || vs.Alpha,
				Omega:  vs.Omega,
			}
			for k := range rs.Checkers {
				spec.Checkers = append(spec.Checkers, smtpHostSpecs(rs, &rs.Checkers[k], checkSpec(rs, &rs.Checkers[k], k, files))...)
			}
			out = append(out, spec)
		}
	}
	return out, index
}

func checkSpec(rs *config.RealServer, ck *config.Checker, idx int, files map[string]config.TrackFile) checks.Spec {
	retry := ck.Retry
	s := checks.Spec{
		ID:               fmt.Sprintf("%d-%s", idx, ck.Kind),
		Kind:             checks.Kind(ck.Kind),
		Target:           netip.AddrPortFrom(rs.Addr, rs.Port),
		ConnectIP:        ck.ConnectIP,
		ConnectPort:      ck.ConnectPort,
		BindTo:           ck.BindTo,
		BindPort:         ck.BindPort,
		BindIf:           ck.BindIf,
		FWMark:           ck.Fwmark,
		ConnectTimeout:   ck.ConnectTimeout,
		DelayLoop:        ck.DelayLoop,
		Retry:            &retry,
		DelayBeforeRetry: ck.DelayBeforeRetry,
		Warmup:           ck.Warmup,
		Alpha:            ck.Alpha,
		LogAllFailures:   ck.LogAllFailures,
	}
	switch {
	case ck.HTTP != nil:
		h := &checks.HTTPSpec{
			Protocol:    ck.HTTP.Protocol,
			VirtualHost: ck.HTTP.VirtualHost,
			EnableSNI:   ck.HTTP.EnableSNI,
			SNIName:     ck.HTTP.SNIName,
		}
		for _, u := range ck.HTTP.URLs {
			h.URLs = append(h.URLs, checks.URLSpec{
				Path:         u.Path,
				Digest:       u.Digest,
				StatusCodes:  statusCodes(u.Status),
				Regex:        u.Regex,
				RegexNoMatch: u.RegexNoMatch,
				VirtualHost:  u.VirtualHost,
			})
		}
		s.HTTP = h
	case ck.SMTP != nil:
		s.SMTP = &checks.SMTPSpec{HeloName: ck.SMTP.HeloName}
	case ck.DNS != nil:
		s.DNS = &checks.DNSSpec{Type: ck.DNS.Type, Name: ck.DNS.Name}
	case ck.Misc != nil:
		s.Misc = &checks.MiscSpec{Path: ck.Misc.Path, Timeout: ck.Misc.Timeout, Dynamic: ck.Misc.Dynamic, User: ck.Misc.User}
	case ck.UDP != nil:
		s.UDP = &checks.UDPSpec{
			Payload:        hex.EncodeToString(ck.UDP.Payload),
			RequireReply:   ck.UDP.RequireReply,
			ReplyPattern:   ck.UDP.ReplyPattern,
			MinReplyLength: ck.UDP.MinReplyLength,
			MaxReplyLength: ck.UDP.MaxReplyLength,
		}
	case ck.File != nil:
		f := files[ck.File.TrackFile]
		s.File = &checks.FileSpec{Path: f.File, Weight: ck.File.Weight, Reverse: ck.File.Reverse}
	}
	return s
}

// statusCodes renders status ranges in keepalived's status_code syntax.
func statusCodes(rs []config.StatusRange) string {
	var parts []string
	for _, r := range rs {
		if r.From == r.To {
			parts = append(parts, fmt.Sprint(r.From))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r.From, r.To))
		}
	}
	return strings.Join(parts, " ")
}
