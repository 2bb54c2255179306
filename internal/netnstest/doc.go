// Package netnstest builds small disposable networks of Linux network
// namespaces for integration tests: one "LAN" namespace holding a bridge,
// and any number of host namespaces each attached to it by a veth pair.
//
// It owns test scaffolding only; no product code imports it. Everything it
// creates carries a random per-lab prefix and is removed in t.Cleanup, also
// when the test fails. Tests that need it call RequireRoot first: ordinary
// users get a skip with a reason, and CI (CI=true) gets a failure, because
// there the test must run.
//
// Addresses given to hosts must come from the documentation ranges
// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
package netnstest
