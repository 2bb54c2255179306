package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"quadrature/api"
)

// TestObservationTimeOmittedWhenUnknown: an observation whose time is not
// known has no "at" in its JSON (never 0001-01-01T00:00:00Z); a known one
// is an RFC 3339 time.
func TestObservationTimeOmittedWhenUnknown(t *testing.T) {
	b, err := json.Marshal(api.Observation{Node: "iwash1", Up: true, Weight: 1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"at"`) || strings.Contains(string(b), "0001-01-01") {
		t.Errorf("unknown time: %s", b)
	}
	at := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	b, err = json.Marshal(api.Observation{Node: "iwash1", At: at})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"at":"2026-12-04T18:00:00Z"`) {
		t.Errorf("known time: %s", b)
	}
}
