package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder of every write body. It
// must never panic; what it accepts must be valid and survive a JSON round
// trip unchanged.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"vs":"tcp/192.0.2.100:3128","rs":"198.51.100.11:3128"}`,
		`{"node":"iwash2","on":true}`,
		`{"instance":"VI_1","node":"iwash2"}`,
		`{"name":"iwash4","addr":"198.51.100.14:7000"}`,
		`{"name":"v6","addr":"[2001:db8::4]:7000"}`,
		`{}`,
		`{"main":"keepalived.conf","files":{"keepalived.conf":"global_defs {\n}\n","inc/vs.conf":"x"}}`,
		`{"files":{"../x":"y"}}`,
		`{"vs":"a"}{"vs":"b"}`,
		`[1,2,3]`,
		`null`,
		`{"on":null,"node":"x"}`,
		"{\"vs\":\"\\u0000\",\"rs\":\"b\"}",
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		targets := []func() validator{
			func() validator { return &DrainRequest{} },
			func() validator { return &MaintenanceRequest{} },
			func() validator { return &TransferRequest{} },
			func() validator { return &RaftServerRequest{} },
			func() validator { return &SnapshotRequest{} },
			func() validator { return &ConfigRequest{} },
		}
		for _, mk := range targets {
			v := mk()
			if err := decodeBody(bytes.NewReader(data), v); err != nil {
				if _, ok := err.(*requestError); !ok {
					t.Fatalf("%T: error of type %T: %v", v, err, err)
				}
				continue
			}
			if err := v.validate(); err != nil {
				t.Fatalf("%T: accepted then invalid: %v", v, err)
			}
			enc, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T: re-encode: %v", v, err)
			}
			w := mk()
			if err := decodeBody(bytes.NewReader(enc), w); err != nil {
				t.Fatalf("%T: round trip of %s: %v", v, enc, err)
			}
			if !reflect.DeepEqual(v, w) {
				t.Fatalf("%T: round trip changed %+v into %+v", v, v, w)
			}
		}
		// The HTTP path too: the config decoder with both content types, and
		// the If-Match parser.
		for _, ct := range []string{"application/json", "text/plain", ""} {
			r := httptest.NewRequest(http.MethodPut, "/v1/config", bytes.NewReader(data))
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			if q, err := decodeConfig(r); err == nil {
				if _, ok := q.Files[q.Main]; !ok {
					t.Fatalf("accepted config without its main file: %+v", q)
				}
			}
		}
		if v, err := parseIfMatch(string(data)); err == nil && v != 0 {
			if got, err := parseIfMatch(etag(v)); err != nil || got != v {
				t.Fatalf("etag round trip %d: %d %v", v, got, err)
			}
		}
	})
}
