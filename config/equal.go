package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// JSON returns the indented JSON form of c (Pos fields are not part of it).
// encoding/json writes struct fields in declaration order, so the output is
// stable for a given model.
func (c *Config) JSON() []byte {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		// The model holds only marshalable types; this cannot happen.
		panic("config: marshal: " + err.Error())
	}
	return append(b, '\n')
}

// Equal reports whether two models mean the same configuration: every field
// equal except the source positions and NodeNames. Both describe the text
// the model came from, not what it means: a rendered file has no
// conditional lines, a merged one has them, and both load back to a model
// Equal to their input.
func Equal(a, b *Config) bool {
	return bytes.Equal(a.meaningJSON(), b.meaningJSON())
}

// meaningJSON is JSON without NodeNames.
func (c *Config) meaningJSON() []byte {
	if c.NodeNames == nil {
		return c.JSON()
	}
	cp := *c
	cp.NodeNames = nil
	return cp.JSON()
}

// Diff describes the first difference between two models ("" when Equal),
// as the JSON lines around it; meant for test failures and merge reports.
func Diff(a, b *Config) string {
	la := strings.Split(string(a.meaningJSON()), "\n")
	lb := strings.Split(string(b.meaningJSON()), "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			from := max(0, i-3)
			ctx := strings.Join(la[from:i], "\n")
			return fmt.Sprintf("at JSON line %d:\n%s\n- %s\n+ %s", i+1, ctx, strings.TrimSpace(x), strings.TrimSpace(y))
		}
	}
	return ""
}
