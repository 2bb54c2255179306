package scriptexec

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Env is the only environment a script gets.
const Env = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

// ErrInsecure marks a script refused by the security check.
var ErrInsecure = errors.New("insecure script")

// Resolve finds argv0 (absolute, or looked up in the clean PATH) and
// returns the real path with symlinks resolved.
func Resolve(argv0 string) (string, error) {
	p := argv0
	if !strings.Contains(p, "/") {
		found := ""
		for _, dir := range strings.Split(strings.TrimPrefix(Env, "PATH="), ":") {
			cand := filepath.Join(dir, p)
			if st, err := os.Stat(cand); err == nil && st.Mode().IsRegular() {
				found = cand
				break
			}
		}
		if found == "" {
			return "", fmt.Errorf("script %q: %w", argv0, exec.ErrNotFound)
		}
		p = found
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("script %q: path must be absolute", argv0)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("script %q: %w", argv0, err)
	}
	return real, nil
}

// CheckSecurity refuses a script that a non-root user could change:
// the file and every directory up to / must be owned by root (or by
// trustedUID, the user running quadrature when it is not root), must not be
// world-writable, and must not be group-writable unless the group is root —
// keepalived's enable_script_security rule.
func CheckSecurity(path string, trustedUID uint32) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrInsecure, path)
	}
	if st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return CheckPath(path, trustedUID)
}

// CheckPath applies the ownership and permission rule of CheckSecurity to
// path and every directory above it (a place for scripts is secure when
// CheckPath accepts it).
func CheckPath(path string, trustedUID uint32) error {
	for p := path; ; p = filepath.Dir(p) {
		if err := secureNode(p, trustedUID); err != nil {
			return err
		}
		if p == "/" || p == "." {
			return nil
		}
	}
}

func secureNode(p string, trustedUID uint32) error {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return fmt.Errorf("stat %s: %w", p, err)
	}
	switch {
	case st.Uid != 0 && st.Uid != trustedUID:
		return fmt.Errorf("%w: %s is owned by uid %d (not root)", ErrInsecure, p, st.Uid)
	case st.Mode&0o002 != 0:
		return fmt.Errorf("%w: %s is world-writable", ErrInsecure, p)
	case st.Mode&0o020 != 0 && st.Gid != 0:
		return fmt.Errorf("%w: %s is writable by group %d", ErrInsecure, p, st.Gid)
	}
	return nil
}

// LookupCredential resolves "user", "user:group" or keepalived's
// "user group" to a credential with no supplementary groups.
func LookupCredential(spec string) (*syscall.Credential, error) {
	name, group, _ := strings.Cut(spec, ":")
	if f := strings.Fields(spec); len(f) == 2 && group == "" {
		name, group = f[0], f[1]
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("script user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("script user %q: uid %q: %w", name, u.Uid, err)
	}
	gidStr := u.Gid
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("script group %q: %w", group, err)
		}
		gidStr = g.Gid
	}
	gid, err := strconv.ParseUint(gidStr, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("script group %q: gid %q: %w", group, gidStr, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// DefaultUser is keepalived's default script user: keepalived_script if
// that user exists, else root (fallback reports the latter).
func DefaultUser() (name string, fallback bool) {
	if _, err := user.Lookup("keepalived_script"); err == nil {
		return "keepalived_script", false
	}
	return "root", true
}
