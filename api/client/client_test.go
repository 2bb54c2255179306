package client

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"quadrature/api"
)

func TestNewAddr(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"", "http://127.0.0.1:9900", true},
		{"127.0.0.1:9900", "http://127.0.0.1:9900", true},
		{"[2001:db8::1]:9900", "http://[2001:db8::1]:9900", true},
		{"https://node1:9900/", "https://node1:9900", true},
		{"http://node1:9900/prefix/?x=1#f", "http://node1:9900/prefix", true},
		{"ftp://node1:21", "", false},
		{"http://", "", false},
		{"http://%zz", "", false},
	} {
		c2, err := New(Options{Addr: c.in})
		if (err == nil) != c.ok {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if err == nil && c2.base.String() != c.want {
			t.Errorf("%q: base %s, want %s", c.in, c2.base.String(), c.want)
		}
	}
	if _, err := New(Options{CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("missing CA file accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := New(Options{CAFile: bad}); err == nil {
		t.Error("CA file without certificates accepted")
	}
}

func TestErrorIs(t *testing.T) {
	for _, c := range []struct {
		err    *Error
		target error
	}{
		{&Error{StatusCode: 412}, api.ErrConflict},
		{&Error{StatusCode: 404}, api.ErrNotFound},
		{&Error{StatusCode: 422}, api.ErrInvalid},
		{&Error{StatusCode: 503, Body: api.ErrorBody{Code: "no_leader"}}, api.ErrNoLeader},
		{&Error{StatusCode: 401}, ErrUnauthorized},
		{&Error{StatusCode: 403}, ErrForbidden},
	} {
		if !errors.Is(c.err, c.target) {
			t.Errorf("%d does not match %v", c.err.StatusCode, c.target)
		}
		if errors.Is(&Error{StatusCode: http.StatusTeapot}, c.target) {
			t.Errorf("418 matches %v", c.target)
		}
	}
	if errors.Is(&Error{StatusCode: 503, Body: api.ErrorBody{Code: "unavailable"}}, api.ErrNoLeader) {
		t.Error("any 503 matches ErrNoLeader")
	}
	e := &Error{StatusCode: 422, Body: api.ErrorBody{Error: "configuration rejected", Details: []api.ConfigError{{File: "a.conf", Line: 3, Message: "bad"}}}}
	if !strings.Contains(e.Error(), "a.conf:3: bad") {
		t.Errorf("message %q", e.Error())
	}
}

func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	os.WriteFile(filepath.Join(data, api.TokenFileName), []byte("from-data-dir\n"), 0o600)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == TokenEnv {
				return v
			}
			return ""
		}
	}
	for _, c := range []struct {
		file, env, dataDir, want string
		ok                       bool
	}{
		{file, "from-env", data, "from-file", true},
		{"", "from-env", data, "from-env", true},
		{"", "", data, "from-data-dir", true},
		{"", "  ", data, "from-data-dir", true},
		{"", "", filepath.Join(dir, "nowhere"), "", false},
		{filepath.Join(dir, "missing"), "from-env", data, "", false},
	} {
		got, _, err := ResolveToken(c.file, env(c.env), c.dataDir)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%+v: %q %v", c, got, err)
		}
	}
}
