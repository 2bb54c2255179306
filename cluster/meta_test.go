package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func splitHostPortStrict(a string) (string, int, error) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	return h, n, err
}

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{
		Role: RoleWitness, RaftAddr: "198.51.100.11:7950", BootstrapExpect: 3,
		APIAddr: "198.51.100.11:9900", MACs: []string{"02:00:5e:00:01:01", "02:00:5e:00:01:02"},
		TableDigest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Extra:       map[string]string{"version": "0.1.0"},
	}
	b, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > memberlist.MetaMaxSize {
		t.Fatalf("typical metadata is %d bytes", len(b))
	}
	if !bytes.Contains(b, []byte(`"v":1`)) {
		t.Fatalf("no version in %s", b)
	}
	got, err := decodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, m)
	}
	c := m.clone()
	c.MACs[0] = "x"
	c.Extra["version"] = "y"
	if m.MACs[0] == "x" || m.Extra["version"] == "y" {
		t.Fatal("clone shares memory")
	}
}

func TestDecodeMetaErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":      "",
		"not json":   "{",
		"no version": `{"r":"voter"}`,
		"no role":    `{"v":1}`,
		"bad role":   `{"v":1,"r":"king"}`,
		"neg expect": `{"v":1,"r":"voter","bx":-1}`,
		"bad raft":   `{"v":1,"r":"voter","ra":"nohostport"}`,
		"too big":    `{"v":1,"r":"voter","x":{"a":"` + strings.Repeat("b", 600) + `"}}`,
	} {
		if _, err := decodeMeta([]byte(in)); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		}
	}
	// A newer version with unknown fields is read best effort.
	m, err := decodeMeta([]byte(`{"v":2,"r":"voter","ra":"127.0.0.1:1","new":[1,2]}`))
	if err != nil || m.RaftAddr != "127.0.0.1:1" {
		t.Fatalf("v2 metadata: %+v %v", m, err)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte(`{"v":1,"r":"voter","ra":"127.0.0.1:7950","bx":3}`))
	f.Add([]byte(`{"v":1,"r":"witness","macs":["02:00:00:00:00:01"],"x":{"a":"b"}}`))
	f.Add([]byte(`{"v":0}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		if !m.Role.Valid() || m.BootstrapExpect < 0 {
			t.Fatalf("accepted invalid metadata %+v", m)
		}
	})
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	req := rpcRequest{Op: opApply, Cmd: []byte{0, 1, 2, 255}, TimeoutMS: 5}
	if err := writeFrame(&buf, req); err != nil {
		t.Fatal(err)
	}
	if err := writeFrame(&buf, rpcResponse{Index: 9, Result: []byte("ok"), HasResult: true}); err != nil {
		t.Fatal(err)
	}
	var got rpcRequest
	if err := readFrame(&buf, &got); err != nil || !reflect.DeepEqual(got, req) {
		t.Fatalf("request round trip: %+v %v", got, err)
	}
	var resp rpcResponse
	if err := readFrame(&buf, &resp); err != nil || resp.Index != 9 || string(resp.Result) != "ok" {
		t.Fatalf("response round trip: %+v %v", resp, err)
	}
	if err := readFrame(&buf, &resp); err != io.EOF {
		t.Fatalf("end of stream: %v, want io.EOF", err)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], maxFrame+1)
	if err := readFrame(bytes.NewReader(hdr[:]), &resp); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized frame: %v", err)
	}
	binary.BigEndian.PutUint32(hdr[:], 10)
	if err := readFrame(bytes.NewReader(append(hdr[:], "abc"...)), &resp); err != io.ErrUnexpectedEOF {
		t.Fatalf("short frame: %v", err)
	}
}

func TestResponseErrors(t *testing.T) {
	if err := responseError(rpcResponse{}); err != nil {
		t.Fatal(err)
	}
	if err := responseError(rpcResponse{Code: codeNotLeader}); err != ErrNotLeader {
		t.Fatal(err)
	}
	err := responseError(rpcResponse{Code: codeApply, Err: "key is locked", ApplyCode: "conflict"})
	var ae *ApplyError
	if !errorsAs(err, &ae) || ae.Code != "conflict" || !isErr(err, errConflict) {
		t.Fatalf("apply error: %#v", err)
	}
	if errorCode(newApplyError(errConflict)) != codeApply || errorCode(ErrShutdown) != codeShutdown {
		t.Fatal("error codes")
	}
	if !isErr(responseError(rpcResponse{Code: codeLeadershipLost, Err: "x"}), ErrLeadershipLost) {
		t.Fatal("leadership lost not recognised")
	}
	if !isErr(responseError(rpcResponse{Code: codeShutdown}), ErrLeadershipLost) {
		t.Fatal("a leader stopping mid-request must mean outcome unknown")
	}
	if !retryable(responseError(rpcResponse{Code: codeUnavailable})) || retryable(responseError(rpcResponse{Code: codeShutdown})) {
		t.Fatal("retry classification of unavailable/shutdown")
	}
	forbidden := responseError(rpcResponse{Code: codeForbidden, Err: "membership changes over RPC need mutual TLS"})
	if !isErr(forbidden, ErrForbidden) || retryable(forbidden) || !strings.Contains(forbidden.Error(), "peer refused") ||
		!strings.Contains(forbidden.Error(), "mutual TLS") {
		t.Fatalf("forbidden: %v", forbidden)
	}
	if errorCode(fmt.Errorf("x: %w", errPeerRefused)) != codeForbidden {
		t.Fatal("a peer refusal must answer code forbidden")
	}
}

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	_ = writeFrame(&buf, rpcRequest{Op: opApply, Cmd: []byte("k=v"), TimeoutMS: 100})
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 5, '[', '1', ']', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req rpcRequest
		if err := readFrame(bytes.NewReader(b), &req); err != nil {
			return
		}
		// Whatever decoded must re-encode.
		var out bytes.Buffer
		if err := writeFrame(&out, req); err != nil {
			t.Fatalf("re-encode %+v: %v", req, err)
		}
	})
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
func isErr(err, target error) bool        { return errors.Is(err, target) }

// TestRaftPortRejectsGarbage speaks nonsense to a live node's Raft port.
func TestRaftPortRejectsGarbage(t *testing.T) {
	n := startNode(t, testConfig(t, "solo", 1))
	waitFor(t, 5*time.Second, "leader", n.IsLeader)
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", n.RaftAddr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	// Unknown mux byte: closed.
	c := dial()
	_, _ = c.Write([]byte("X hello"))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("unknown connection type was not closed")
	}
	c.Close()
	// Unknown op: an error answer, connection stays usable.
	c = dial()
	defer c.Close()
	_, _ = c.Write([]byte{muxRPC})
	if err := writeFrame(c, rpcRequest{Op: "launch_missiles"}); err != nil {
		t.Fatal(err)
	}
	var resp rpcResponse
	if err := readFrame(c, &resp); err != nil || !strings.Contains(resp.Err, "unknown rpc op") {
		t.Fatalf("unknown op answer %+v, %v", resp, err)
	}
	if err := writeFrame(c, rpcRequest{Op: opRemoveServer, ID: "no such/id"}); err != nil {
		t.Fatal(err)
	}
	if err := readFrame(c, &resp); err != nil || resp.Err == "" {
		t.Fatalf("bad id answer %+v, %v", resp, err)
	}
	// A frame that is not JSON: the server hangs up.
	_, _ = c.Write([]byte{0, 0, 0, 3, 'a', 'b', 'c'})
	if err := readFrame(c, &resp); err == nil {
		t.Fatal("garbage frame answered")
	}
	if !n.IsLeader() {
		t.Fatal("node lost leadership after garbage")
	}
}
