package checks

import (
	"errors"
	"strings"
)

// SplitCommandLine splits a misc_path-style command line into arguments the
// way keepalived does: words are separated by blanks; "double" and 'single'
// quotes group words (the quotes are removed); inside double quotes and
// outside quotes a backslash makes the next character literal. An
// unterminated quote or a trailing backslash is an error.
func SplitCommandLine(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		quote rune
		esc   bool
	)
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				esc = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			esc, inArg = true, true
		case r == '"' || r == '\'':
			quote, inArg = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if esc {
		return nil, errors.New("command line ends with a backslash")
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote in command line")
	}
	if inArg {
		args = append(args, cur.String())
	}
	if strings.ContainsRune(s, 0) {
		return nil, errors.New("NUL byte in command line")
	}
	return args, nil
}
