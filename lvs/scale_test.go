package lvs

import "testing"

func TestKeepalivedScaleTableShape(t *testing.T) {
	tab := ScaleTable()
	n := 0
	for _, s := range tab.Services {
		n += len(s.Destinations)
	}
	if len(tab.Services) != ScaleServices || n != ScaleDests {
		t.Fatalf("%d services, %d destinations; want %d, %d", len(tab.Services), n, ScaleServices, ScaleDests)
	}
	if err := tab.Validate(); err != nil {
		t.Fatal(err)
	}
}
