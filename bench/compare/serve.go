//go:build linux

package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// serve is the real servers' process (run inside the servers' namespace):
// it listens on every address × port given, accepts every connection and
// closes it (TCP) or answers one HTTP request with 200 (HTTP). It prints
// "ready" once every listener is bound. On stdin, "down" closes every
// listener (the kernel then refuses new connections with RST: every real
// server is down at once) and answers "down"; EOF ends the process.
func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addrs := fs.String("addrs", "", "comma-separated addresses")
	first := fs.Int("port", 10000, "first port")
	nports := fs.Int("ports", 100, "ports per address")
	total := fs.Int("n", 0, "listeners in all (the last address may have fewer ports)")
	httpMode := fs.Bool("http", false, "answer HTTP requests instead of closing")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lns []net.Listener
	n := 0
outer:
	for _, a := range strings.Split(*addrs, ",") {
		for p := 0; p < *nports; p++ {
			if n == *total {
				break outer
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(a, fmt.Sprint(*first+p)))
			if err != nil {
				fmt.Fprintf(os.Stderr, "serve: %v\n", err)
				return 1
			}
			lns = append(lns, ln)
			n++
		}
	}
	var wg sync.WaitGroup
	if *httpMode {
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok\n")
		})
		for _, ln := range lns {
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Second}
			srv.SetKeepAlivesEnabled(false)
			wg.Add(1)
			go func() { defer wg.Done(); _ = srv.Serve(ln) }()
		}
	} else {
		for _, ln := range lns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
	}
	fmt.Println("ready", len(lns))
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "down" {
			for _, ln := range lns {
				ln.Close()
			}
			wg.Wait()
			fmt.Println("down")
		}
	}
	return 0
}
