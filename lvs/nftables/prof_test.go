package nftables

import (
	"context"
	"syscall"
	"testing"
	"time"

	"quadrature/internal/netnstest"
	"quadrature/lvs"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestProfScale(t *testing.T) {
	lab := netnstest.NewLab(t)
	ns := lab.AddHost("dir")
	dp, err := New(Options{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	ctx := context.Background()
	for _, n := range []int{400} {
		ns.Run("nft", "delete", "table", "inet", "quadrature")
		desired := bigTable(n, 10)
		obs, _ := dp.Read(ctx)
		p := lvs.Diff(obs, desired, lvs.Options{})
		st, c := time.Now(), cpuTime()
		if err := dp.Apply(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Logf("n=%d apply wall %v cpu %v", n, time.Since(st), cpuTime()-c)
		st, c = time.Now(), cpuTime()
		for i := 0; i < 10; i++ {
			dp.Read(ctx)
		}
		t.Logf("n=%d read wall %v cpu %v", n, time.Since(st), cpuTime()-c)
		next := lvs.Table{Services: append([]lvs.Service(nil), desired.Services...)}
		next.Services[3].Destinations = append([]lvs.Destination(nil), next.Services[3].Destinations...)
		next.Services[3].Destinations[2].Weight = 9
		obs, _ = dp.Read(ctx)
		p = lvs.Diff(obs, next, lvs.Options{})
		st, c = time.Now(), cpuTime()
		if err := dp.Apply(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Logf("n=%d one-change apply wall %v cpu %v", n, time.Since(st), cpuTime()-c)
	}
}
