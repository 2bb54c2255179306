package api

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	tok, path, err := EnsureToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, TokenFileName) || len(tok) < 40 {
		t.Fatalf("token %q at %s", tok, path)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	if dst, _ := os.Stat(dir); dst.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v", dst.Mode())
	}
	again, _, err := EnsureToken(dir)
	if err != nil || again != tok {
		t.Fatalf("second call: %q %v, want the same token", again, err)
	}
	other, _, _ := EnsureToken(filepath.Join(t.TempDir(), "other"))
	if other == tok {
		t.Fatal("two data dirs share a token")
	}
	os.Chmod(path, 0o644)
	if again, _, err := EnsureToken(dir); err != nil || again != tok {
		t.Fatalf("after chmod: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode not tightened: %v", st.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("leftover files: %v", entries)
	}
	if _, _, err := EnsureToken(""); err == nil {
		t.Error("empty data dir accepted")
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		content, want string
		ok            bool
	}{
		{"abc\n", "abc", true},
		{"  abc  \r\nsecond line\n", "abc", true},
		{"abc", "abc", true},
		{"", "", false},
		{"\nabc\n", "", false},
		{"a b\n", "", false},
		{"caf\xc3\xa9\n", "", false},
		{strings.Repeat("x", 600) + "\n", "", false},
	}
	for i, c := range cases {
		p := filepath.Join(dir, "tok")
		os.WriteFile(p, []byte(c.content), 0o600)
		got, err := ReadTokenFile(p)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("case %d %q: %q %v", i, c.content, got, err)
		}
	}
	if _, err := ReadTokenFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer  abc ": "abc",
		"BEARER abc":   "abc",
		"Bearer ":      "",
		"Basic abc":    "",
		"Bearerabc":    "",
		"":             "",
	} {
		got, ok := bearer(h)
		if got != want || ok != (want != "") {
			t.Errorf("bearer(%q) = %q %v", h, got, ok)
		}
	}
}
