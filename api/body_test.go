package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"quadrature/api/apitest"
)

const hugeBody = 100 << 20

// sendHuge sends a request announcing (or, chunked, streaming) a 100 MB
// body over a raw connection to a real server, writing as fast as the
// server takes it, and reads the response meanwhile. It returns the status,
// the bytes of body written when the response came and how long it took.
func sendHuge(t *testing.T, addr, method, path, token string, chunked bool) (int, int64, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var hdr strings.Builder
	fmt.Fprintf(&hdr, "%s %s HTTP/1.1\r\nHost: quadrature\r\nContent-Type: application/json\r\n", method, path)
	if token != "" {
		fmt.Fprintf(&hdr, "Authorization: Bearer %s\r\n", token)
	}
	if chunked {
		hdr.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&hdr, "Content-Length: %d\r\n\r\n", hugeBody)
	}
	start := time.Now()
	if _, err := io.WriteString(c, hdr.String()); err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		// One JSON string that never ends: only the limit stops it.
		chunk := []byte(`{"files":{"keepalived.conf":"` + strings.Repeat("#", 64<<10))
		for sent.Load() < hugeBody {
			p := chunk
			if sent.Load() > 0 {
				p = chunk[len(`{"files":{"keepalived.conf":"`):]
			}
			if chunked {
				p = append([]byte(fmt.Sprintf("%x\r\n", len(p))), append(p, "\r\n"...)...)
			}
			if _, err := c.Write(p); err != nil {
				return
			}
			sent.Add(int64(len(p)))
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s: no response after %v (%d bytes sent): %v", method, path, took, sent.Load(), err)
	}
	resp.Body.Close()
	n := sent.Load()
	c.Close()
	<-done
	return resp.StatusCode, n, took
}

// TestHugeBodies: a 100 MB body is refused quickly without being read: by
// its declared length (413), by the body limit when streamed (413 once the
// limit is passed), and before anything for a caller without a valid
// token (401). The backend is never called.
func TestHugeBodies(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	addr := strings.TrimPrefix(ts.URL, "http://")
	for _, c := range []struct {
		name, method, path, token string
		chunked                   bool
		want                      int
	}{
		{"declared, admin", "PUT", "/v1/config", apitest.AdminToken, false, 413},
		{"streamed, admin", "PUT", "/v1/config", apitest.AdminToken, true, 413},
		{"streamed validate, admin", "POST", "/v1/config/validate", apitest.AdminToken, true, 413},
		{"declared drain, admin", "POST", "/v1/drain", apitest.AdminToken, false, 413},
		{"streamed drain, admin", "POST", "/v1/drain", apitest.AdminToken, true, 413},
		{"declared, no token", "PUT", "/v1/config", "", false, 401},
		{"streamed, no token", "PUT", "/v1/config", "", true, 401},
		{"streamed, wrong token", "PUT", "/v1/config", "wrong-token", true, 401},
		{"streamed, read token", "PUT", "/v1/config", apitest.ReadToken, true, 403},
	} {
		f.ResetCalls()
		status, sent, took := sendHuge(t, addr, c.method, c.path, c.token, c.chunked)
		t.Logf("%s: %d after %v, %d KiB of body written", c.name, status, took.Round(time.Millisecond), sent>>10)
		if status != c.want {
			t.Errorf("%s: status %d, want %d", c.name, status, c.want)
		}
		if took > 5*time.Second {
			t.Errorf("%s: answered after %v", c.name, took)
		}
		// What the kernel buffers plus, streamed past auth, the 4 MiB
		// limit: far from 100 MB.
		if sent > 24<<20 {
			t.Errorf("%s: %d MiB of the body were taken", c.name, sent>>20)
		}
		if calls := f.Calls(); len(calls) != 0 {
			t.Errorf("%s: backend called: %v", c.name, calls)
		}
	}
}
