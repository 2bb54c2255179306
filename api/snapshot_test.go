package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"quadrature/agent"
	"quadrature/api"
	"quadrature/api/apitest"
	"quadrature/api/client"
	"quadrature/fsm"
)

// snapConf is a small configuration the real FSM compiles.
const snapConf = `global_defs {
  router_id snaptest
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    192.0.2.100/24
  }
}
virtual_server 192.0.2.100 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 198.51.100.11 80 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`

// fsmSnapshot returns the real FSM's snapshot after versions SetConfigs
// (the last one's content is conf), and the FSM.
func fsmSnapshot(t testing.TB, versions int, conf string) ([]byte, *fsm.FSM) {
	t.Helper()
	f := fsm.New(fsm.Options{})
	for v := 1; v <= versions; v++ {
		text := conf
		if v < versions {
			text = fmt.Sprintf("%s# version %d\n", conf, v)
		}
		res := f.ApplyCommand(uint64(10*v), fsm.MustEncode(fsm.SetConfig{ExpectVersion: uint64(v - 1), Main: "keepalived.conf",
			Files: []fsm.File{{Name: "keepalived.conf", Content: []byte(text)}}, Nodes: []string{"n1", "n2", "n3"}}))
		if res.Err != nil {
			t.Fatalf("set_config v%d: %v", v, res.Err)
		}
	}
	b, err := f.State().MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b, f
}

// sameHeader compares headers, their times as instants.
func sameHeader(a, b api.SnapshotHeader) bool {
	if !a.Created.Equal(b.Created) {
		return false
	}
	a.Created, b.Created = time.Time{}, time.Time{}
	return a == b
}

func testHeader(cv uint64) api.SnapshotHeader {
	return api.SnapshotHeader{Node: "n1", Created: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		QuadratureVersion: "test", RaftIndex: 123, RaftTerm: 4, ConfigVersion: cv, FSMFormat: fsm.SnapshotFormat}
}

func TestSnapshotEnvelopeRoundTrip(t *testing.T) {
	payload, _ := fsmSnapshot(t, 3, snapConf)
	h, env, err := api.EncodeSnapshot(testHeader(3), payload)
	if err != nil {
		t.Fatal(err)
	}
	if h.Format != 1 || h.Size != int64(len(payload)) || len(h.SHA256) != 64 {
		t.Fatalf("header %+v", h)
	}
	lines := strings.SplitN(string(env), "\n", 3)
	if lines[0] != "quadrature-snapshot 1" || !strings.HasPrefix(lines[1], `{"format":1,"node":"n1",`) || lines[2] != string(payload) {
		t.Fatalf("envelope:\n%.300s", env)
	}
	t.Logf("envelope header: %s", lines[1])
	got, gotPayload, err := api.ReadSnapshot(bytes.NewReader(env), api.MaxSnapshotBody)
	if err != nil {
		t.Fatal(err)
	}
	if !sameHeader(got, h) || !bytes.Equal(gotPayload, payload) {
		t.Fatalf("read back %+v", got)
	}
}

func TestSnapshotEnvelopeRefusals(t *testing.T) {
	payload, _ := fsmSnapshot(t, 1, snapConf)
	_, env, err := api.EncodeSnapshot(testHeader(1), payload)
	if err != nil {
		t.Fatal(err)
	}
	headerEnd := bytes.IndexByte(env[len("quadrature-snapshot 1\n"):], '\n') + len("quadrature-snapshot 1\n") + 1
	withHeader := func(edit func(map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(env[len("quadrature-snapshot 1\n"):headerEnd-1], &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		line, _ := json.Marshal(m)
		return append(append([]byte("quadrature-snapshot 1\n"), append(line, '\n')...), env[headerEnd:]...)
	}
	flipped := slices.Clone(env)
	flipped[headerEnd+len(payload)/2] ^= 0x20
	for _, c := range []struct {
		name string
		in   []byte
		max  int64
		want string
	}{
		{"empty", nil, 0, "empty"},
		{"a keepalived.conf", []byte(snapConf), 0, `it does not start with "quadrature-snapshot 1"`},
		{"a raw fsm snapshot", payload, 0, `it does not start with`},
		{"cut in the first line", env[:10], 0, "truncated in the header"},
		{"cut in the header", env[:headerEnd-5], 0, "truncated in the header"},
		{"cut in the state", env[:len(env)-7], 0, fmt.Sprintf("truncated: the header announces %d bytes of state, only %d follow", len(payload), len(payload)-7)},
		{"no state", env[:headerEnd], 0, "only 0 follow"},
		{"trailing data", append(slices.Clone(env), '\n'), 0, fmt.Sprintf("data after the %d bytes the header announces", len(payload))},
		{"one bit flipped", flipped, 0, "checksum mismatch"},
		{"unknown header field", withHeader(func(m map[string]any) { m["extra"] = 1 }), 0, `header: json: unknown field "extra"`},
		{"header not JSON", append([]byte("quadrature-snapshot 1\nnot json\n"), payload...), 0, "header: invalid character"},
		{"future format", withHeader(func(m map[string]any) { m["format"] = 2 }), 0, "envelope format 2, this build reads 1"},
		{"negative size", withHeader(func(m map[string]any) { m["size"] = -1 }), 0, "header: size -1"},
		{"larger than the limit", env, 100, fmt.Sprintf("%d bytes, more than the limit of 100", len(payload))},
		{"bad digest", withHeader(func(m map[string]any) { m["sha256"] = "abc" }), 0, `sha256 "abc" is not a hex SHA-256`},
		{"other digest", withHeader(func(m map[string]any) { m["sha256"] = strings.Repeat("00", 32) }), 0, "checksum mismatch"},
		{"header too long", append([]byte("quadrature-snapshot 1\n"), bytes.Repeat([]byte(" "), 5000)...), 0, "header line longer than 4096 bytes"},
	} {
		max := c.max
		if max == 0 {
			max = api.MaxSnapshotBody
		}
		_, _, err := api.ReadSnapshot(bytes.NewReader(c.in), max)
		if !errors.Is(err, api.ErrBadSnapshot) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrBadSnapshot with %q", c.name, err, c.want)
			continue
		}
		t.Logf("%-22s %v", c.name+":", err)
	}
}

func TestCheckSnapshotPayload(t *testing.T) {
	payload, _ := fsmSnapshot(t, 2, snapConf)
	f := fsm.New(fsm.Options{})
	st, err := agent.CheckSnapshotPayload(f, testHeader(2), payload)
	if err != nil || st.ConfigVersion() != 2 || string(st.Source().Files["keepalived.conf"]) != snapConf {
		t.Fatalf("valid snapshot: %v", err)
	}
	if f.State().ConfigVersion() != 0 {
		t.Fatal("checking a snapshot changed the FSM")
	}
	// A state whose configuration does not compile (decodes, but Restore
	// would keep an empty table).
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m["config"].(map[string]any)["files"].([]any)[0].(map[string]any)["content"] = []byte("vrrp_instance {\n")
	broken, _ := json.Marshal(m)
	empty, _ := fsm.New(fsm.Options{}).State().MarshalSnapshot()
	for _, c := range []struct {
		name    string
		h       api.SnapshotHeader
		payload []byte
		want    string
	}{
		{"header and state disagree", testHeader(5), payload, "the header says config version 5, the state holds 2"},
		{"not the FSM's encoding", testHeader(2), []byte(`{"kv":{"a":"1"}}`), `unknown field "kv"`},
		{"not JSON", testHeader(2), []byte("\x00\x01"), "fsm: snapshot: invalid character"},
		{"future state format", func() api.SnapshotHeader { h := testHeader(2); h.FSMFormat = 9; return h }(), payload, "state format 9, this build reads 1"},
		{"no configuration", testHeader(0), empty, "it holds no configuration"},
		{"configuration does not compile", testHeader(2), broken, "its configuration (version 2) does not compile with this build"},
	} {
		_, err := agent.CheckSnapshotPayload(f, c.h, c.payload)
		var ie *api.InvalidError
		if !errors.As(err, &ie) || ie.Code != "invalid_snapshot" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want invalid_snapshot with %q", c.name, err, c.want)
			continue
		}
		t.Logf("%-32s %v", c.name+":", err)
	}
	if f.State().ConfigVersion() != 0 {
		t.Fatal("checking snapshots changed the FSM")
	}
}

// fakeSnapshotEnvelope is a snapshot apitest.NewFake restores: its own
// configuration at version 7.
func fakeSnapshotEnvelope() string {
	f := apitest.NewFake("iwash1")
	h, data, err := f.SaveSnapshot(context.Background())
	if err != nil {
		panic(err)
	}
	_, env, err := api.EncodeSnapshot(h, data)
	if err != nil {
		panic(err)
	}
	return string(env)
}

// noSnapshots is a backend without the Snapshotter part.
type noSnapshots struct{ api.Backend }

func TestSnapshotHTTP(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	admin := apitest.NewClient(t, ts, apitest.AdminToken)
	read := apitest.NewClient(t, ts, apitest.ReadToken)
	ctx := t.Context()

	if _, _, err := read.SaveSnapshot(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("save with the read token: %v", err)
	}
	h, env, err := admin.SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.ConfigVersion != 7 || h.RaftIndex != 42 || h.Node != "iwash1" || h.QuadratureVersion != "test" || h.Created.IsZero() {
		t.Fatalf("header %+v", h)
	}
	orig := f.Conf.Files[api.DefaultMainFile]

	// Change the configuration: v8.
	if _, err := admin.PutConfig(ctx, api.ConfigRequest{Files: map[string]string{api.DefaultMainFile: orig + "# changed\n"}}, 7); err != nil {
		t.Fatal(err)
	}
	f.ResetCalls()
	unchanged := func(what string) {
		t.Helper()
		doc, err := read.Config(ctx)
		if err != nil || doc.Version != 8 || !strings.HasSuffix(doc.Files[api.DefaultMainFile], "# changed\n") {
			t.Fatalf("%s: config %d %v", what, doc.Version, err)
		}
	}

	// Damaged envelopes: 422 invalid_snapshot, the backend never asked.
	damaged := slices.Clone(env)
	damaged[len(damaged)-3] ^= 1
	for name, body := range map[string][]byte{
		"truncated":        env[:len(env)-20],
		"checksum":         damaged,
		"not a snapshot":   []byte(orig),
		"trailing":         append(slices.Clone(env), "x"...),
		"empty":            {},
		"header mangled":   bytes.Replace(env, []byte(`"format":1`), []byte(`"format":"1"`), 1),
		"magic misspelled": bytes.Replace(env, []byte("quadrature-snapshot"), []byte("quadrature-snapsh0t"), 1),
	} {
		_, err := admin.RestoreSnapshot(ctx, body)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.StatusCode != http.StatusUnprocessableEntity || ce.Body.Code != "invalid_snapshot" ||
			!strings.Contains(ce.Body.Error, "not a valid quadrature snapshot") || !errors.Is(err, api.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
		unchanged(name)
	}
	if calls := f.Calls(); slices.Contains(calls, "RestoreSnapshot") {
		t.Fatalf("the backend was asked to restore a damaged snapshot: %v", calls)
	}
	// An intact envelope whose state the backend cannot decode: 422 from
	// the backend, nothing changed.
	_, foreign, _ := api.EncodeSnapshot(h, []byte(`{"kv":{}}`))
	if _, err := admin.RestoreSnapshot(ctx, foreign); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "snapshot refused, nothing changed") {
		t.Errorf("foreign state: %v", err)
	}
	unchanged("foreign state")
	// Tokens: none → 401, read → 403, before the body is read.
	none := apitest.NewClient(t, ts, "")
	if _, err := none.RestoreSnapshot(ctx, env); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("restore without a token: %v", err)
	}
	if _, err := read.RestoreSnapshot(ctx, env); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("restore with the read token: %v", err)
	}
	unchanged("tokens")
	// Larger than the limit: 413.
	huge := make([]byte, api.MaxSnapshotBody+8192)
	copy(huge, env)
	var ce *client.Error
	if _, err := admin.RestoreSnapshot(ctx, huge); !errors.As(err, &ce) || ce.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("huge body: %v", err)
	}

	// The real thing: back to v7 and its content.
	res, err := admin.RestoreSnapshot(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Restored || res.ConfigVersion != 7 || !sameHeader(res.Snapshot, h) {
		t.Fatalf("restore result %+v", res)
	}
	doc, err := read.Config(ctx)
	if err != nil || doc.Version != 7 || doc.Files[api.DefaultMainFile] != orig {
		t.Fatalf("after restore: v%d %v", doc.Version, err)
	}

	// A backend without snapshots: 501.
	ts2, _ := apitest.NewServer(t, noSnapshots{f}, nil)
	c2 := apitest.NewClient(t, ts2, apitest.AdminToken)
	if _, _, err := c2.SaveSnapshot(ctx); !errors.As(err, &ce) || ce.StatusCode != http.StatusNotImplemented {
		t.Errorf("save without a Snapshotter: %v", err)
	}
	if _, err := c2.RestoreSnapshot(ctx, env); !errors.As(err, &ce) || ce.StatusCode != http.StatusNotImplemented {
		t.Errorf("restore without a Snapshotter: %v", err)
	}
}

// FuzzSnapshotEnvelope feeds arbitrary bytes to the snapshot decoder (the
// envelope, then the state inside an intact one, as POST
// /v1/snapshot/restore does): it never panics, what it accepts matches
// its header, and it re-encodes to an envelope that reads back the same.
func FuzzSnapshotEnvelope(f *testing.F) {
	payload, _ := fsmSnapshot(f, 2, snapConf)
	_, env, err := api.EncodeSnapshot(testHeader(2), payload)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	f.Add(env[:len(env)-1])
	f.Add(append(slices.Clone(env), 'x'))
	_, small, _ := api.EncodeSnapshot(api.SnapshotHeader{}, []byte("{}"))
	f.Add(small)
	_, kv, _ := api.EncodeSnapshot(testHeader(0), []byte(`{"format":1,"live_nodes":["b","a"]}`))
	f.Add(kv)
	f.Add([]byte("quadrature-snapshot 1\n{\"format\":1,\"size\":1,\"sha256\":\"\"}\nx"))
	f.Add([]byte("quadrature-snapshot 1\n"))
	f.Add([]byte(snapConf))
	f.Add([]byte{})
	fs := fsm.New(fsm.Options{})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, payload, err := api.ReadSnapshot(bytes.NewReader(in), 1<<20)
		if err != nil {
			if !errors.Is(err, api.ErrBadSnapshot) {
				t.Fatalf("error not ErrBadSnapshot: %v", err)
			}
			return
		}
		if int64(len(payload)) != h.Size || h.Format != api.SnapshotFormat {
			t.Fatalf("accepted %d bytes for header %+v", len(payload), h)
		}
		h2, env2, err := api.EncodeSnapshot(h, payload)
		if err != nil {
			return // a header json cannot encode again (a time out of range)
		}
		if !sameHeader(h2, h) {
			t.Fatalf("re-encoded header %+v, read %+v", h2, h)
		}
		h3, p3, err := api.ReadSnapshot(bytes.NewReader(env2), 1<<20)
		if err != nil || !sameHeader(h3, h) || !bytes.Equal(p3, payload) {
			t.Fatalf("re-encoded envelope reads back %+v %v", h3, err)
		}
		st, err := agent.CheckSnapshotPayload(fs, h, payload)
		if err != nil {
			var ie *api.InvalidError
			if !errors.As(err, &ie) || ie.Code != "invalid_snapshot" {
				t.Fatalf("payload refusal %T %v", err, err)
			}
			return
		}
		if st.ConfigVersion() != h.ConfigVersion || st.Source() == nil {
			t.Fatalf("accepted state v%d for header v%d", st.ConfigVersion(), h.ConfigVersion)
		}
		_ = st.DesiredTable()
	})
}
