package checks

import (
	"context"
	"testing"
	"time"

	"quadrature/internal/promtest"
)

// TestMetricLabels: the checks' series carry the vs and rs labels of the
// one ID scheme (split from the agent's "VS RS" ID), the local verdict is in
// the quadrature_realserver_ family, and each checker's last duration is
// there; removing the real server removes its series.
func TestMetricLabels(t *testing.T) {
	s, fakes, reg := newTestScheduler(t, nil)
	spec := tcpSpec("0-TCP_CHECK", func(s *Spec) {
		s.DelayLoop, s.Retry, s.Warmup = 10*time.Millisecond, Ptr(0), Ptr(time.Duration(0))
	})
	const id = "tcp/192.0.2.10:80 198.51.100.1:80"
	if err := s.Update([]RealServerSpec{{ID: id, Weight: 3, Checkers: []Spec{spec}}}); err != nil {
		t.Fatal(err)
	}
	fakes["0-TCP_CHECK"].set(up("ok"), down("refused", "connection refused"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	var ups []bool
	for len(ups) < 2 {
		select {
		case o := <-s.Observations():
			ups = append(ups, o.Up)
		case <-time.After(5 * time.Second):
			t.Fatalf("observations so far %v", ups)
		}
	}
	defer func() { cancel(); <-done }()

	want := map[string]map[string]string{
		"quadrature_realserver_local_up":         {"vs": "tcp/192.0.2.10:80", "rs": "198.51.100.1:80"},
		"quadrature_realserver_local_weight":     {"vs": "tcp/192.0.2.10:80", "rs": "198.51.100.1:80"},
		"quadrature_check_up":                    {"vs": "tcp/192.0.2.10:80", "rs": "198.51.100.1:80", "checker": "0-TCP_CHECK", "kind": "TCP_CHECK"},
		"quadrature_check_last_duration_seconds": {"vs": "tcp/192.0.2.10:80", "rs": "198.51.100.1:80", "checker": "0-TCP_CHECK", "kind": "TCP_CHECK"},
	}
	got := promtest.Gather(t, reg)
	for name, labels := range want {
		ls, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if len(ls) != 1 {
			t.Errorf("%s: %d series, want 1", name, len(ls))
			continue
		}
		have := ls[0].Labels
		for k, v := range labels {
			if have[k] != v {
				t.Errorf("%s: label %s=%q, want %q (%v)", name, k, have[k], v, have)
			}
		}
		if len(have) != len(labels) {
			t.Errorf("%s: labels %v, want exactly %v", name, have, labels)
		}
	}
	if err := s.Update(nil); err != nil {
		t.Fatal(err)
	}
	got = promtest.Gather(t, reg)
	for name := range want {
		if len(got[name]) != 0 {
			t.Errorf("%s: series left after the real server was removed: %v", name, got[name])
		}
	}
}
