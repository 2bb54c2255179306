package api

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
	Comps   struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		} `json:"schemas"`
	} `json:"components"`
}

// nilBackend is enough to build a Server whose routes are inspected.
type nilBackend struct{ Backend }

// TestOpenAPICoverage walks the registered routes: every route and method is
// described, and every described path and method is served.
func TestOpenAPICoverage(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	s, err := New(Options{Backend: nilBackend{}, AdminToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range s.Routes() {
		path := strings.TrimSuffix(r.Path, "{$}")
		key := strings.ToLower(r.Method) + " " + path
		served[key] = true
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("route %s %s: path not in openapi.json", r.Method, path)
			continue
		}
		op, ok := ops[strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("route %s %s: method not in openapi.json", r.Method, path)
			continue
		}
		// Public routes say so; the others inherit the global bearer
		// requirement.
		public := strings.Contains(string(op), `"security": []`) || strings.Contains(string(op), `"security":[]`)
		if public != (r.Access == Public) {
			t.Errorf("route %s %s: access %s but openapi security public=%v", r.Method, path, r.Access, public)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			if !served[method+" "+path] {
				t.Errorf("openapi.json describes %s %s, which no route serves", strings.ToUpper(method), path)
			}
		}
	}
}

// TestOpenAPISchemas keeps the component schemas' property names equal to
// the JSON field names of the Go types the handlers encode and decode.
func TestOpenAPISchemas(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	types := map[string]any{
		"OK": OK{}, "Ready": ReadyBody{}, "ErrorBody": ErrorBody{}, "Status": Status{}, "Member": Member{},
		"MembersBody": MembersBody{}, "VRRPInstance": VRRPInstance{}, "VRRPBody": VRRPBody{},
		"VRRPNode": VRRPNode{}, "VRRPAllBody": VRRPAllBody{}, "KernelCounters": KernelCounters{},
		"Observation": Observation{}, "RealServer": RealServer{}, "VirtualQuorum": VirtualQuorum{},
		"VirtualService": VirtualService{}, "ServicesBody": ServicesBody{}, "ConfigDoc": ConfigDoc{},
		"ConfigRequest": ConfigRequest{}, "ConfigError": ConfigError{}, "PutConfigResult": PutConfigResult{},
		"DrainRequest": DrainRequest{}, "MaintenanceRequest": MaintenanceRequest{},
		"TransferRequest": TransferRequest{}, "RaftServerRequest": RaftServerRequest{},
		"RaftServer": RaftServer{}, "RaftServersBody": RaftServersBody{},
		"RevokeRequest": RevokeRequest{}, "RevocationsBody": RevocationsBody{}, "ConfigChanges": ConfigChanges{},
		"SnapshotHeader": SnapshotHeader{}, "SnapshotRestoreResult": SnapshotRestoreResult{},
	}
	for name, v := range types {
		sch, ok := doc.Comps.Schemas[name]
		if !ok {
			t.Errorf("schema %s missing", name)
			continue
		}
		var want, got []string
		rt := reflect.TypeOf(v)
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			tag := strings.Split(f.Tag.Get("json"), ",")[0]
			if !f.IsExported() || tag == "-" || tag == "" {
				continue
			}
			want = append(want, tag)
		}
		for p := range sch.Properties {
			got = append(got, p)
		}
		sort.Strings(want)
		sort.Strings(got)
		if strings.Join(want, ",") != strings.Join(got, ",") {
			t.Errorf("schema %s: properties %v, Go type %T has %v", name, got, v, want)
		}
		for _, r := range sch.Required {
			if _, ok := sch.Properties[r]; !ok {
				t.Errorf("schema %s: required %q is not a property", name, r)
			}
		}
	}
	if len(types) != len(doc.Comps.Schemas) {
		t.Errorf("%d schemas, %d checked: check the new ones too", len(doc.Comps.Schemas), len(types))
	}
}
