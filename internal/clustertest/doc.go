// Package clustertest runs real multi-node quadrature groups for
// integration tests: every node is a network namespace on a shared bridge
// (package quadrature/internal/netnstest) running the real binary
// (`quadrature agent -config FILE -node NAME -timing tuned`, started with
// `ip netns exec`, so Kill is a real SIGKILL) and a tiny application
// server (testapp), because every director also serves the application.
//
// It owns test scaffolding only; no product code imports it. It needs root
// (tests skip otherwise, and fail under CI=true) and the nft program.
//
// # Addressing (documentation ranges only)
//
// Node i (1-based) is "n<i>" at 203.0.113.(10+i)/24 on eth0; the VIP is
// 203.0.113.10 (VRRP instance "vi1", VRID 51, v3, advert_int 0.2, n1 has
// the highest priority); the client namespace is 203.0.113.100. The
// default config (DefaultConfig) has one NAT virtual service VIP:80 (wrr,
// nftables backend with masquerade) whose real servers are every node's
// application server at <node>:8080, checked with HTTP_GET, delay_loop 1,
// retry 0. Each agent's admin API listens on :9900 with a token file.
//
// # Stable API (other test packages build on it)
//
//	g := clustertest.New(t, clustertest.Options{Nodes: 3})
//	st := g.WaitReady()                 // converged + a VIP holder
//	g.AssertConverged()                 // same leader, config_version, digest on all running nodes
//	g.Node("n2").API                    // *api/client.Client for n2 (dialled inside n2's namespace)
//	g.Kill("n1"); g.Restart("n1")       // SIGKILL; start again with the same data dir
//	g.Term("n1"); g.StartAgent("n1")    // SIGTERM (graceful); start
//	g.StopApp("n3"); g.StartApp("n3")   // real server down / up
//	g.Isolate("n1"); g.Partition(a, b); g.Heal()
//	g.DropOutput("n2", rs); g.AllowOutput("n2", rs) // checker of n2 cannot reach rs
//	g.VIPHolders()                      // names of namespaces holding the VIP
//	g.Statuses(); g.Digests(); g.Leader()
//	g.AssertConvergedWith("what", func(api.Status) error {...}) // e.g. a new digest after a change
//	g.WaitFor("what", timeout, func() error {...}) // fails with agent logs
//	clustertest.Poll(timeout, interval, cond)      // the same without failing (measurements)
//	hc := g.ClientHTTP(time.Second); body, err := g.Get(hc) // through the VIP, new connection each
//	g.Node("n1").Status(); g.Node("n1").RealServer("n3") // one node's view of n3's real server
//	g.Node("n1").HasVIP(clustertest.VIP); g.Node("n1").NS.Run("nft", ...)
//	clustertest.ServiceID(), clustertest.RealServerID(3) // API ids for drain
//	clustertest.NSDialer(ns, timeout)              // DialContext inside any namespace
//
// A node's config_version can move a moment before its kernel table and
// digest follow (the digest is re-read at most once a second after
// incremental passes): after a change, wait with AssertConvergedWith for
// the digest you expect rather than comparing right after
// AssertConverged.
//
// Set QUADRATURE_CLUSTERTEST_KEEP=DIR to keep a failed test's logs.
//
// New builds cmd/quadrature and testapp once per test binary (Build) into
// $TMPDIR/quadrature-clustertest-<uid>/<pid> (one directory per test
// process, so concurrent test binaries never swap each other's agent
// binary; directories of finished processes are removed). Every namespace
// and process is removed in t.Cleanup, also on failure; when the test failed, the tail of
// every agent log is written to the test log. Agent logs live in Group.Dir
// (n1.log, ...), appended across restarts.
//
// Who calls it: cluster's agent_*_test.go integration tests and api's
// end-to-end tests.
package clustertest
