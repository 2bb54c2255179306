package agent

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The file's warnings are kept with the real path, and logged one line
// each at start and reload.
func TestConfigSourceWarnings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	conf := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n nopreempt 1\n" +
		" virtual_ipaddress {\n  192.0.2.10/24\n }\n}\ninclude conf.d/*.conf\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := ReadConfigSource(path, "n1", "")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	src.logWarnings(slog.New(slog.NewTextHandler(&b, nil)), "reload")
	out := b.String()
	for _, want := range []string{"at=" + path + ":5", "at=" + path + ":10", "during=reload", "level=WARN"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != len(src.Warnings) || n < 2 {
		t.Errorf("%d lines for %d warnings:\n%s", n, len(src.Warnings), out)
	}
}
