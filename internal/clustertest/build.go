package clustertest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Binaries are the programs a group runs, built once per test binary.
type Binaries struct {
	// Agent is bin/quadrature built from this checkout.
	Agent string
	// App is the test application server (internal/clustertest/testapp).
	App string
}

var (
	buildOnce sync.Once
	buildBins Binaries
	buildErr  error
)

// Build compiles cmd/quadrature and the test application once per test
// binary (later calls return the same paths) into a per-user directory
// under os.TempDir. Each build goes to a fresh name and is renamed into
// place, so concurrent test binaries never see a half-written file.
func Build() (Binaries, error) {
	buildOnce.Do(func() { buildBins, buildErr = build() })
	return buildBins, buildErr
}

func build() (Binaries, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return Binaries{}, fmt.Errorf("clustertest: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return Binaries{}, fmt.Errorf("clustertest: not inside the quadrature module")
	}
	root := filepath.Dir(gomod)
	// One directory per test process: a binary another test process
	// builds (perhaps from another state of the tree) must never replace
	// the one this process restarts agents from. Directories of processes
	// that are gone are removed.
	base := filepath.Join(os.TempDir(), fmt.Sprintf("quadrature-clustertest-%d", os.Geteuid()))
	if ents, err := os.ReadDir(base); err == nil {
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
					os.RemoveAll(filepath.Join(base, e.Name()))
				}
			}
		}
	}
	dir := filepath.Join(base, strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("clustertest: %w", err)
	}
	var b Binaries
	for _, p := range []struct {
		pkg string
		dst *string
		nm  string
	}{
		{"./cmd/quadrature", &b.Agent, "quadrature"},
		{"./internal/clustertest/testapp", &b.App, "testapp"},
	} {
		final := filepath.Join(dir, p.nm)
		tmp, err := os.CreateTemp(dir, p.nm+".*.tmp")
		if err != nil {
			return Binaries{}, fmt.Errorf("clustertest: %w", err)
		}
		tmp.Close()
		cmd := exec.Command("go", "build", "-o", tmp.Name(), p.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp.Name())
			return Binaries{}, fmt.Errorf("clustertest: go build %s: %w\n%s", p.pkg, err, out)
		}
		if err := os.Rename(tmp.Name(), final); err != nil {
			os.Remove(tmp.Name())
			return Binaries{}, fmt.Errorf("clustertest: %w", err)
		}
		*p.dst = final
	}
	return b, nil
}
