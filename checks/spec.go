package checks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Kind names a checker type with keepalived's keyword.
type Kind string

// The checker kinds, spelled as in keepalived.conf.
const (
	KindTCP  Kind = "TCP_CHECK"
	KindHTTP Kind = "HTTP_GET"
	KindSSL  Kind = "SSL_GET"
	KindSMTP Kind = "SMTP_CHECK"
	KindDNS  Kind = "DNS_CHECK"
	KindMisc Kind = "MISC_CHECK"
	KindUDP  Kind = "UDP_CHECK"
	KindPing Kind = "PING_CHECK"
	KindFile Kind = "FILE_CHECK"
)

// Kinds lists every supported kind.
var Kinds = []Kind{KindTCP, KindHTTP, KindSSL, KindSMTP, KindDNS, KindMisc, KindUDP, KindPing, KindFile}

// keepalived defaults (keepalived.conf(5), check_parser.c, check_api.c).
const (
	DefaultDelayLoop        = 60 * time.Second
	DefaultConnectTimeout   = 5 * time.Second
	DefaultDelayBeforeRetry = 1 * time.Second
	DefaultHTTPRetryDelay   = 3 * time.Second // HTTP_GET and SSL_GET
	DefaultRetry            = 1
	DefaultDNSRetry         = 3
	DefaultMiscRetry        = 0
	// MiscKillGrace is the time between SIGTERM and SIGKILL of a timed-out script group.
	MiscKillGrace = 2 * time.Second
)

// Ptr returns a pointer to v, for the optional Spec fields.
func Ptr[T any](v T) *T { return &v }

// Spec is one checker of one real server, with keepalived's options already
// inherited (virtual_server -> real_server -> checker) by the caller. Zero
// values mean "keepalived's default"; Retry and Warmup are pointers because
// 0 is a meaningful value there.
type Spec struct {
	// ID identifies the checker within its real server across reloads. Empty:
	// derived from a digest of the whole spec (so any change is a new checker).
	ID   string
	Kind Kind
	// Target is the real server address and port (real_server IP PORT).
	Target netip.AddrPort

	ConnectIP      netip.Addr // connect_ip (default Target address)
	ConnectPort    uint16     // connect_port (default Target port, or the kind's default)
	BindTo         netip.Addr // bindto
	BindPort       uint16     // bind_port
	BindIf         string     // bind_if (SO_BINDTODEVICE)
	FWMark         uint32     // fwmark (SO_MARK, needs CAP_NET_ADMIN)
	ConnectTimeout time.Duration

	DelayLoop        time.Duration
	Retry            *int // retry / nb_get_retry
	DelayBeforeRetry time.Duration
	Warmup           *time.Duration // first check at a random offset in [0, warmup); default delay_loop
	Alpha            bool           // start down; up after the first success
	LogAllFailures   bool

	HTTP *HTTPSpec // HTTP_GET, SSL_GET
	SMTP *SMTPSpec
	DNS  *DNSSpec
	Misc *MiscSpec
	UDP  *UDPSpec
	File *FileSpec
}

// RealServerSpec is one real server and all its checkers. It is up only when
// every checker is up.
type RealServerSpec struct {
	ID     string // stable identity; the agent writes "VS RS" ("tcp/192.0.2.10:80 198.51.100.1:80"), which the metrics split into their vs and rs labels
	Weight int    // configured weight (default of keepalived is 1; 0 is allowed)
	// Alpha makes every checker start down (virtual_server/real_server alpha).
	Alpha bool
	// Omega emits a final down observation when the real server is removed
	// or the scheduler stops (keepalived runs notify_down/quorum_down then).
	Omega    bool
	Checkers []Spec
}

// ConnectAddr is the address a network checker connects to.
func (s *Spec) ConnectAddr() netip.AddrPort {
	ip := s.Target.Addr()
	if s.ConnectIP.IsValid() {
		ip = s.ConnectIP
	}
	port := s.Target.Port()
	if s.ConnectPort != 0 {
		port = s.ConnectPort
	}
	if port == 0 {
		switch s.Kind {
		case KindSMTP:
			port = 25
		case KindDNS:
			port = 53
		case KindHTTP:
			port = 80
		case KindSSL:
			port = 443
		}
	}
	return netip.AddrPortFrom(ip, port)
}

// EffectiveDelayLoop returns delay_loop or its default.
func (s *Spec) EffectiveDelayLoop() time.Duration {
	if s.DelayLoop > 0 {
		return s.DelayLoop
	}
	return DefaultDelayLoop
}

// EffectiveConnectTimeout returns connect_timeout or its default.
func (s *Spec) EffectiveConnectTimeout() time.Duration {
	if s.ConnectTimeout > 0 {
		return s.ConnectTimeout
	}
	return DefaultConnectTimeout
}

// EffectiveRetry returns retry or the kind's default (1; DNS 3; MISC 0).
func (s *Spec) EffectiveRetry() int {
	if s.Retry != nil {
		return *s.Retry
	}
	switch s.Kind {
	case KindDNS:
		return DefaultDNSRetry
	case KindMisc:
		return DefaultMiscRetry
	}
	return DefaultRetry
}

// EffectiveDelayBeforeRetry returns delay_before_retry or the kind's default
// (HTTP/SSL 3 s, DNS delay_loop, others 1 s).
func (s *Spec) EffectiveDelayBeforeRetry() time.Duration {
	if s.DelayBeforeRetry > 0 {
		return s.DelayBeforeRetry
	}
	switch s.Kind {
	case KindHTTP, KindSSL:
		return DefaultHTTPRetryDelay
	case KindDNS:
		return s.EffectiveDelayLoop()
	}
	return DefaultDelayBeforeRetry
}

// EffectiveWarmup returns the warmup window (default delay_loop).
func (s *Spec) EffectiveWarmup() time.Duration {
	if s.Warmup != nil {
		return *s.Warmup
	}
	return s.EffectiveDelayLoop()
}

// checkTimeout is the deadline of one run of the checker.
func (s *Spec) checkTimeout() time.Duration {
	switch s.Kind {
	case KindMisc:
		// The runner enforces misc_timeout itself and then needs the kill grace.
		return s.Misc.effectiveTimeout(s.EffectiveDelayLoop()) + MiscKillGrace + 10*time.Second
	case KindHTTP, KindSSL:
		// connect_timeout bounds each network step; a run has several URLs.
		n := max(1, len(s.HTTP.URLs))
		return time.Duration(n) * 2 * s.EffectiveConnectTimeout()
	case KindSMTP:
		return 4 * s.EffectiveConnectTimeout()
	}
	return s.EffectiveConnectTimeout()
}

// key returns the checker identity within its real server.
func (s *Spec) key() string {
	if s.ID != "" {
		return s.ID
	}
	return string(s.Kind) + "-" + s.digest()[:12]
}

// digest is a hash of the whole spec; a changed spec is a new checker.
// JSON renders addresses canonically and follows the option pointers.
func (s *Spec) digest() string {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen for these plain types; fall back to the Go syntax
		b = fmt.Appendf(nil, "%#v", *s)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Validate reports every problem of the spec, or nil.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	known := false
	for _, k := range Kinds {
		known = known || s.Kind == k
	}
	if !known {
		bad("unknown checker kind %q", s.Kind)
	}
	network := s.Kind != KindMisc && s.Kind != KindFile
	if network && !s.ConnectAddr().Addr().IsValid() {
		bad("%s: no address to check (real server or connect_ip)", s.Kind)
	}
	if network && s.Kind != KindPing && s.ConnectAddr().Port() == 0 {
		bad("%s: no port to check (real server port or connect_port)", s.Kind)
	}
	if s.BindTo.IsValid() && s.ConnectAddr().Addr().IsValid() && s.BindTo.Is4() != s.ConnectAddr().Addr().Is4() {
		bad("%s: bindto %s and target %s are different families", s.Kind, s.BindTo, s.ConnectAddr().Addr())
	}
	if s.DelayLoop < 0 || s.ConnectTimeout < 0 || s.DelayBeforeRetry < 0 {
		bad("%s: negative duration", s.Kind)
	}
	if s.Retry != nil && *s.Retry < 0 {
		bad("%s: negative retry %d", s.Kind, *s.Retry)
	}
	if s.Warmup != nil && *s.Warmup < 0 {
		bad("%s: negative warmup", s.Kind)
	}
	need := func(ok bool, block string) {
		if !ok {
			bad("%s: missing %s options", s.Kind, block)
		}
	}
	switch s.Kind {
	case KindHTTP, KindSSL:
		need(s.HTTP != nil, "url")
		if s.HTTP != nil {
			if err := s.HTTP.validate(); err != nil {
				bad("%s: %w", s.Kind, err)
			}
		}
	case KindMisc:
		need(s.Misc != nil, "misc_path")
		if s.Misc != nil {
			if err := s.Misc.validate(); err != nil {
				bad("%s: %w", s.Kind, err)
			}
		}
	case KindDNS:
		if s.DNS != nil {
			if err := s.DNS.validate(); err != nil {
				bad("%s: %w", s.Kind, err)
			}
		}
	case KindUDP:
		if s.UDP != nil {
			if err := s.UDP.validate(); err != nil {
				bad("%s: %w", s.Kind, err)
			}
		}
	case KindFile:
		need(s.File != nil && s.File.Path != "", "track_file")
	}
	return errors.Join(errs...)
}

// Validate checks the real server and its checkers.
func (r *RealServerSpec) Validate() error {
	var errs []error
	if r.ID == "" {
		errs = append(errs, errors.New("real server without ID"))
	}
	if r.Weight < 0 {
		errs = append(errs, fmt.Errorf("real server %s: negative weight %d", r.ID, r.Weight))
	}
	seen := map[string]bool{}
	for i := range r.Checkers {
		c := &r.Checkers[i]
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("real server %s checker %d: %w", r.ID, i, err))
			continue
		}
		k := c.key()
		if seen[k] {
			errs = append(errs, fmt.Errorf("real server %s: duplicate checker id %q", r.ID, k))
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}

func validateAll(specs []RealServerSpec) error {
	var errs []error
	seen := map[string]bool{}
	for i := range specs {
		if err := specs[i].Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[specs[i].ID] {
			errs = append(errs, fmt.Errorf("duplicate real server id %q", specs[i].ID))
		}
		seen[specs[i].ID] = true
	}
	return errors.Join(errs...)
}
