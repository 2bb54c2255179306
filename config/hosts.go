package config

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// Resolver looks host names up; *net.Resolver satisfies it.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Hosts is a parsed hosts(5) file: name (lower case) to addresses, in file
// order. It implements Resolver without touching the network.
type Hosts map[string][]netip.Addr

// ParseHosts parses hosts(5) content: "ADDRESS NAME [ALIAS...]" per line,
// '#' comments. Malformed lines are reported (with their line number) and
// skipped; the valid lines are still returned.
func ParseHosts(name string, src []byte) (Hosts, ErrorList) {
	h := Hosts{}
	var errs ErrorList
	for i, line := range strings.Split(string(src), "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		pos := Pos{File: name, Line: i + 1}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			errs = append(errs, Diagnostic{Pos: pos, Msg: fmt.Sprintf("%q is not an IP address", f[0])})
			continue
		}
		if len(f) < 2 {
			errs = append(errs, Diagnostic{Pos: pos, Msg: fmt.Sprintf("%s has no host name", f[0])})
			continue
		}
		a = a.Unmap()
		for _, n := range f[1:] {
			if !validHostName(n) {
				errs = append(errs, Diagnostic{Pos: pos, Msg: fmt.Sprintf("%q is not a host name", n)})
				continue
			}
			k := strings.ToLower(n)
			if !containsAddr(h[k], a) {
				h[k] = append(h[k], a)
			}
		}
	}
	return h, errs
}

func containsAddr(l []netip.Addr, a netip.Addr) bool {
	for _, x := range l {
		if x == a {
			return true
		}
	}
	return false
}

// LoadHosts reads and parses a hosts file.
func LoadHosts(path string) (Hosts, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, errs := ParseHosts(path, src)
	if len(errs) > 0 {
		return h, errs
	}
	return h, nil
}

// LookupHost implements Resolver.
func (h Hosts) LookupHost(_ context.Context, host string) ([]string, error) {
	addrs := h[strings.ToLower(strings.TrimSuffix(host, "."))]
	if len(addrs) == 0 {
		return nil, fmt.Errorf("host %q not found", host)
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out, nil
}

// validHostName accepts RFC 1123 host names (letters, digits, '-', '.',
// and '_' as found in practice), not starting with '-' or '.'.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '-' || s[0] == '.' {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_':
			letter = true
		case c >= '0' && c <= '9' || c == '-' || c == '.':
		default:
			return false
		}
	}
	return letter
}

// resolverFunc adapts a Resolver to the decoder: the first address of the
// wanted family ("" = prefer IPv4).
func resolverFunc(ctx context.Context, r Resolver) func(name, family string) (netip.Addr, error) {
	cache := map[string][]netip.Addr{}
	return func(name, family string) (netip.Addr, error) {
		addrs, ok := cache[name]
		if !ok {
			if r == nil {
				return netip.Addr{}, fmt.Errorf("cannot resolve host name %q: no resolver or hosts file given", name)
			}
			raw, err := r.LookupHost(ctx, name)
			if err != nil {
				return netip.Addr{}, fmt.Errorf("cannot resolve %q: %v", name, err)
			}
			for _, s := range raw {
				if a, err := netip.ParseAddr(s); err == nil {
					addrs = append(addrs, a.Unmap())
				}
			}
			cache[name] = addrs
		}
		want := family
		if want == "" {
			want = FamilyInet
		}
		for _, a := range addrs {
			if familyOf(a) == want {
				return a, nil
			}
		}
		if family == "" && len(addrs) > 0 {
			return addrs[0], nil
		}
		return netip.Addr{}, fmt.Errorf("host %q has no %s address", name, familyName(want))
	}
}
