package jepsen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"quadrature/api"
	"quadrature/api/client"
	"quadrature/internal/clustertest"
)

// httpWorker sends one request at a time through vip from the client
// namespace (a new connection each, 1 s timeout) until ctx ends. A 200
// answer is ok (with the node that served it); a refused or reset
// connection or another status is a fail; a timeout is info (for a read
// of the application the two count alike: unavailable). Requests cut
// short by the end of the run are not recorded.
func httpWorker(ctx context.Context, h *History, g *clustertest.Group, proc int, vip netip.Addr) {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		Proxy: nil, DisableKeepAlives: true, DialContext: clustertest.NSDialer(g.Client, time.Second)}}
	defer hc.CloseIdleConnections()
	url := "http://" + netip.AddrPortFrom(vip, clustertest.VIPPort).String() + "/"
	for ctx.Err() == nil {
		op := Op{Process: proc, Kind: KindHTTP, Target: vip.String(), Start: h.Now()}
		body, err := httpGet(ctx, hc, url)
		op.End = h.Now()
		switch {
		case err == nil && strings.HasPrefix(body, "served by "):
			op.Type, op.Node = OK, strings.TrimPrefix(body, "served by ")
		case err == nil:
			op.Type, op.Err = Fail, "unexpected body: "+short(body, 60)
		case ctx.Err() != nil:
			return
		case isTimeout(err):
			op.Type, op.Err = Info, err.Error()
		default:
			op.Type, op.Err = Fail, err.Error()
		}
		h.Add(op)
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

func httpGet(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(b)), nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// notSent reports an error from dialling the API: the request was never
// sent, so it certainly did not happen (a fail, not an info).
func notSent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// apiClients returns one admin API client per node, dialled from the
// client namespace (an operator's view: partitions between nodes leave
// every API reachable), with a 10 s timeout.
func apiClients(g *clustertest.Group) (map[string]*client.Client, error) {
	out := map[string]*client.Client{}
	for _, n := range g.Nodes {
		c, err := client.New(client.Options{
			Addr:       g.APIBase(n),
			Token:      g.Token,
			HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: g.Transport(g.Client, false)},
		})
		if err != nil {
			return nil, err
		}
		out[n.Name] = c
	}
	return out, nil
}

// casWorkload is the configuration workload: reads and compare-and-swap
// writes against random nodes, each writer with If-Match set to the last
// version it saw (an operator's read-modify-write loop).
type casWorkload struct {
	h       *History
	clients map[string]*client.Client
	nodes   []string
	params  clustertest.ConfigParams
	init    uint64
}

func (w *casWorkload) run(ctx context.Context, proc int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(proc)))
	last := w.init
	for n := 0; ctx.Err() == nil; n++ {
		node := w.nodes[rng.IntN(len(w.nodes))]
		c := w.clients[node]
		op := Op{Process: proc, Target: node}
		// A generous timeout: an indeterminate write is expensive for the
		// linearizability search. The end of the run does not cut a write
		// short (a write in flight then would be indeterminate too).
		octx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		if rng.Float64() < 0.3 {
			op.Kind = KindRead
			op.Start = w.h.Now()
			doc, err := c.Config(octx)
			op.End = w.h.Now()
			if err != nil {
				op.Type, op.Err = Info, err.Error()
			} else {
				op.Type, op.Version, op.Value = OK, doc.Version, doc.Files[doc.Main]
				last = doc.Version
			}
		} else {
			weights := make([]int, len(w.params.Nodes))
			for i := range weights {
				weights[i] = 1 + rng.IntN(5)
			}
			op.Kind, op.Expect = KindCAS, last
			op.Value = RenderConfig(w.params, weights, fmt.Sprintf("p%d-%d", proc, n))
			req := api.ConfigRequest{Main: api.DefaultMainFile, Files: map[string]string{api.DefaultMainFile: op.Value}}
			op.Start = w.h.Now()
			res, err := c.PutConfig(octx, req, op.Expect)
			op.End = w.h.Now()
			var ce *client.Error
			switch {
			case err == nil:
				op.Type, op.Version = OK, res.Version
				last = res.Version
			case errors.Is(err, api.ErrConflict):
				op.Type, op.Err = Fail, errConflict
				if errors.As(err, &ce) && ce.Body.Current != 0 {
					op.Current = ce.Body.Current
					last = ce.Body.Current
				}
			case errors.Is(err, api.ErrInvalid), notSent(err):
				op.Type, op.Err = Fail, err.Error()
			default:
				op.Type, op.Err = Info, err.Error()
			}
		}
		cancel()
		w.h.Add(op)
		sleepCtx(ctx, time.Duration(100+rng.IntN(200))*time.Millisecond)
	}
}

// drainWorker drains and undrains one real server of the availability
// service through random nodes' APIs (blind writes of a last-write-wins
// register), every 1–3 s.
func drainWorker(ctx context.Context, h *History, clients map[string]*client.Client, nodes []string, proc int, seed uint64, rs string) {
	rng := rand.New(rand.NewPCG(seed, uint64(proc)))
	for ctx.Err() == nil {
		sleepCtx(ctx, time.Duration(1000+rng.IntN(2000))*time.Millisecond)
		if ctx.Err() != nil {
			return
		}
		node := nodes[rng.IntN(len(nodes))]
		c := clients[node]
		op := Op{Process: proc, Target: node + " " + rs, Kind: KindDrain}
		octx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		op.Start = h.Now()
		var err error
		if rng.IntN(2) == 0 {
			err = c.Drain(octx, clustertest.ServiceID(), rs)
		} else {
			op.Kind = KindUndrain
			err = c.Undrain(octx, clustertest.ServiceID(), rs)
		}
		op.End = h.Now()
		cancel()
		switch {
		case err == nil:
			op.Type = OK
		case errors.Is(err, api.ErrInvalid), errors.Is(err, api.ErrNotFound), notSent(err):
			op.Type, op.Err = Fail, err.Error()
		default:
			op.Type, op.Err = Info, err.Error()
		}
		h.Add(op)
	}
}

// vipSampler samples every node's VIPs every interval until ctx ends.
type vipSampler struct {
	mu      sync.Mutex
	samples []VIPSample
}

func (s *vipSampler) run(ctx context.Context, h *History, g *clustertest.Group, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	vips := VIPs()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		smp := VIPSample{At: h.Now(), Holders: map[string][]string{}}
		for inst, vip := range vips {
			holders := []string{}
			for _, n := range g.Nodes {
				if n.HasVIP(vip) {
					holders = append(holders, n.Name)
				}
			}
			smp.Holders[inst] = holders
		}
		s.mu.Lock()
		s.samples = append(s.samples, smp)
		s.mu.Unlock()
	}
}

func (s *vipSampler) all() []VIPSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]VIPSample(nil), s.samples...)
}
