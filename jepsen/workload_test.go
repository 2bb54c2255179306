package jepsen

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"quadrature/api/client"
)

// TestNotSent: a refused connection is "not sent"; a request that reached
// a server and then failed is not.
func TestNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	c, err := client.New(client.Options{Addr: addr, HTTPClient: &http.Client{Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background())
	if err == nil || !notSent(err) {
		t.Fatalf("refused connection: notSent(%v) = false", err)
	}

	// A server that accepts and closes without answering: sent, outcome
	// unknown.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = conn.Read(buf)
			conn.Close()
		}
	}()
	c, err = client.New(client.Options{Addr: ln.Addr().String(), HTTPClient: &http.Client{Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background())
	if err == nil || notSent(err) {
		t.Fatalf("request sent, connection closed: notSent(%v) = true", err)
	}
	if notSent(errors.New("dial tcp: connection refused")) {
		t.Error("a plain error string is not a dial error")
	}
}

// TestWantState: this test process is running, not stopped.
func TestWantState(t *testing.T) {
	if err := wantState(os.Getpid(), false); err != nil {
		t.Fatal(err)
	}
	if err := wantState(os.Getpid(), true); err == nil {
		t.Fatal("a running process reads as stopped")
	}
	if err := wantState(1<<30, false); err == nil {
		t.Fatal("a missing process has a state")
	}
}
