package main

import (
	"testing"

	"quadrature/api"
)

func TestCommonDigestIgnoresDeadAndPicksMajority(t *testing.T) {
	ms := []api.Member{
		{Name: "a", State: "alive", TableDigest: "bbb"},
		{Name: "b", State: "alive", TableDigest: "aaa"},
		{Name: "c", State: "alive", TableDigest: "bbb"},
		{Name: "d", State: "dead", TableDigest: "aaa"},
		{Name: "e", State: "dead", TableDigest: "aaa"},
	}
	if got := commonDigest(ms); got != "bbb" {
		t.Fatalf("commonDigest = %q, want the alive majority bbb", got)
	}
	if got := commonDigest(ms[:2]); got != "aaa" {
		t.Fatalf("tie: commonDigest = %q, want the smaller digest aaa", got)
	}
}
