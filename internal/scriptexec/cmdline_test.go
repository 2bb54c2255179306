package scriptexec

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{"/usr/local/bin/check", []string{"/usr/local/bin/check"}, false},
		{"  /bin/check   a\tb  ", []string{"/bin/check", "a", "b"}, false},
		{`/bin/check "two words" 'single "quoted"'`, []string{"/bin/check", "two words", `single "quoted"`}, false},
		{`/bin/check "esc \"q\" \\"`, []string{"/bin/check", `esc "q" \`}, false},
		{`/bin/check a\ b`, []string{"/bin/check", "a b"}, false},
		{`/bin/check ""`, []string{"/bin/check", ""}, false},
		{`/bin/check pre"mid"post`, []string{"/bin/check", "premidpost"}, false},
		{`/bin/check 'it'\''s'`, []string{"/bin/check", "it's"}, false},
		{`/bin/check 'it\'s'`, []string{"/bin/check", "it's"}, false}, // escapes work inside single quotes too
		{`a\tb 'c\nd'`, []string{"a\tb", "c\nd"}, false},
		{`\x41\x4a\x4 \102\7 \cA\E`, []string{"AJ\x04", "B\a", "\x01\x1b"}, false},
		{`\xg \c`, []string{"xg", "c"}, false}, // \x without a hex digit is "x"; \c at the end is "c"
		{"/opt/bin/iweight -p iwash1", []string{"/opt/bin/iweight", "-p", "iwash1"}, false},
		{"a\fb\vc", []string{"a", "b", "c"}, false},
		{`nul\0`, nil, true},
		{``, nil, false},
		{`/bin/check "open`, nil, true},
		{`/bin/check 'open`, nil, true},
		{`/bin/check trailing\`, nil, true},
	}
	for _, c := range cases {
		got, err := Split(c.in)
		if (err != nil) != c.err || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %q %v, want %q err=%v", c.in, got, err, c.want, c.err)
		}
	}
}

// quoteArg quotes a word so Split returns it unchanged
// (backslash escapes work inside quotes, as in keepalived).
func quoteArg(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{`/bin/check`, `/bin/check "a b" c`, `x 'it''s' "q\"uote"`, `a\ b`, `"unterminated`, `trailing\`,
		"tab\tsep\nnl", `""`, `\x41\101\cA\E`, `'\''`, `\0`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := Split(s)
		if err != nil {
			return
		}
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = quoteArg(a)
		}
		again, err := Split(strings.Join(quoted, " "))
		if err != nil || !reflect.DeepEqual(again, args) && !(len(again) == 0 && len(args) == 0) {
			t.Fatalf("%q -> %q -> %q (%v)", s, args, again, err)
		}
	})
}
