package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"quadrature/api"
	"quadrature/api/apitest"
	"quadrature/api/client"
)

// TestEmptyConfigRefused: PUT /v1/config and POST /v1/config/validate
// refuse a configuration without any vrrp_instance or virtual_server (no
// files, white space, comments, global_defs only) with 422 empty_config
// and the operator's message, change nothing, and accept it with
// ?allow_empty=true. A broken configuration reports its own errors first;
// a stale If-Match is still a conflict.
func TestEmptyConfigRefused(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	for _, c := range []struct {
		name, method, path, body, ctype string
	}{
		{"no files", "PUT", "/v1/config", `{"files":{}}`, ""},
		{"no files field", "PUT", "/v1/config", `{}`, ""},
		{"zero bytes", "PUT", "/v1/config", `{"files":{"keepalived.conf":""}}`, ""},
		{"white space", "PUT", "/v1/config", `{"files":{"keepalived.conf":"  \n\t\n"}}`, ""},
		{"comments", "PUT", "/v1/config", `{"files":{"keepalived.conf":"# vrrp_instance VI_1 {\n! virtual_server 192.0.2.1 80 {\n"}}`, ""},
		{"global_defs only", "PUT", "/v1/config", `{"files":{"keepalived.conf":"global_defs {\n router_id x\n}\n"}}`, ""},
		{"text body", "PUT", "/v1/config", "# nothing\n", "text/plain"},
		{"empty text body", "PUT", "/v1/config", "", "text/plain"},
		{"validate", "POST", "/v1/config/validate", `{"files":{"keepalived.conf":"global_defs {\n}\n"}}`, ""},
		{"validate no files", "POST", "/v1/config/validate", `{"files":{}}`, ""},
		{"put ?validate=1", "PUT", "/v1/config?validate=1", `{"files":{"keepalived.conf":"\n"}}`, ""},
	} {
		var hdr []string
		if c.ctype != "" {
			hdr = []string{"Content-Type", c.ctype}
		}
		resp, out := do(t, ts, c.method, c.path, apitest.AdminToken, c.body, hdr...)
		var eb api.ErrorBody
		_ = json.Unmarshal(out, &eb)
		if resp.StatusCode != http.StatusUnprocessableEntity || eb.Code != "empty_config" || eb.Error != api.EmptyConfigMessage {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, out)
		}
		if doc, _ := f.Config(t.Context()); doc.Version != 7 {
			t.Fatalf("%s: the configuration changed (version %d)", c.name, doc.Version)
		}
		sep := "?"
		if strings.Contains(c.path, "?") {
			sep = "&"
		}
		resp, out = do(t, ts, c.method, c.path+sep+"allow_empty=true", apitest.AdminToken, c.body, hdr...)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s, allow_empty=true: %d %s", c.name, resp.StatusCode, out)
		}
		f.Mu.Lock()
		f.Conf.Version = 7 // next case from the same version
		f.Mu.Unlock()
	}
	if resp, out := do(t, ts, "PUT", "/v1/config?allow_empty=perhaps", apitest.AdminToken, `{"files":{}}`); resp.StatusCode != 400 {
		t.Errorf("allow_empty=perhaps: %d %s", resp.StatusCode, out)
	}
	// The configuration's own errors come first.
	resp, out := do(t, ts, "PUT", "/v1/config", apitest.AdminToken, `{"files":{"keepalived.conf":"include missing.conf\n"}}`)
	if resp.StatusCode != 422 || !strings.Contains(string(out), "no such file") || strings.Contains(string(out), "empty_config") {
		t.Errorf("broken and empty: %d %s", resp.StatusCode, out)
	}
	// A stale precondition is still a conflict.
	resp, out = do(t, ts, "PUT", "/v1/config", apitest.AdminToken, `{"files":{"keepalived.conf":"\n"}}`, "If-Match", `"3"`)
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("stale and empty: %d %s", resp.StatusCode, out)
	}
	// A configuration with an instance is not empty.
	resp, out = do(t, ts, "PUT", "/v1/config", apitest.AdminToken, `{"files":{"keepalived.conf":"@iwash2 vrrp_instance VI_1 {\n@iwash2 }\n"}}`)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("an instance on one node: %d %s", resp.StatusCode, out)
	}
}

// TestEmptyConfigClient: the client's options say allow_empty, and the
// refusal matches api.ErrEmptyConfig (and api.ErrInvalid).
func TestEmptyConfigClient(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	c := apitest.NewClient(t, ts, apitest.AdminToken)
	empty := api.ConfigRequest{Files: map[string]string{"keepalived.conf": "# emptied\n"}}
	_, err := c.PutConfig(t.Context(), empty, 7)
	if !errors.Is(err, api.ErrEmptyConfig) || !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "allow_empty=true") {
		t.Fatalf("empty put: %v", err)
	}
	if _, err := c.ValidateConfig(t.Context(), empty); !errors.Is(err, api.ErrEmptyConfig) {
		t.Fatalf("empty validate: %v", err)
	}
	res, err := c.ValidateConfigOpts(t.Context(), empty, client.PutOptions{AllowEmpty: true})
	if err != nil || !res.Valid || !strings.Contains(res.Diff, "+# emptied\n") || !strings.Contains(res.Diff, "-vrrp_instance VI_1 {\n") {
		t.Fatalf("validate allow_empty: %+v %v", res, err)
	}
	res, err = c.PutConfigOpts(t.Context(), empty, 7, client.PutOptions{AllowEmpty: true})
	if err != nil || res.Version != 8 {
		t.Fatalf("put allow_empty: %+v %v", res, err)
	}
	other := api.ConfigRequest{Files: map[string]string{"keepalived.conf": "vrrp_instance VI_1 {\n}\n"}}
	if _, err := c.PutConfig(t.Context(), other, 8); errors.Is(err, api.ErrEmptyConfig) || err != nil {
		t.Fatalf("non-empty put: %v", err)
	}
}
