package scriptexec

import (
	"errors"
	"strings"
)

// Split splits a script's command line (misc_path, a vrrp_script's
// script, a notify line) into arguments exactly as
// keepalived's alloc_strvec_quoted_escaped does (lib/parser.c):
//
//   - words are separated by blanks (space, \t, \f, \n, \r, \v);
//   - "double" and 'single' quotes group text into a word and are removed;
//   - a backslash escapes, inside or outside quotes: \xHH (one or two hex
//     digits), \cX (control character), \NNN (one to three octal digits),
//     \a \b \E \f \n \r \t \v, and any other character stands for itself.
//
// An unterminated quote, a trailing backslash or a NUL byte in a word is an
// error.
func Split(s string) ([]string, error) {
	var args []string
	i := 0
	for {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		var w []byte
		var quote byte
	word:
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\\':
				b, n, err := unescape(s[i+1:])
				if err != nil {
					return nil, err
				}
				w = append(w, b)
				i += 1 + n
			case quote != 0:
				if c == quote {
					quote = 0
				} else {
					w = append(w, c)
				}
				i++
			case c == '"' || c == '\'':
				quote = c
				i++
			case isBlank(c):
				break word
			default:
				w = append(w, c)
				i++
			}
		}
		if quote != 0 {
			return nil, errors.New("unterminated quote in command line")
		}
		if strings.IndexByte(string(w), 0) >= 0 {
			return nil, errors.New("NUL byte in command line argument")
		}
		args = append(args, string(w))
	}
	return args, nil
}

func isBlank(c byte) bool {
	switch c {
	case ' ', '\t', '\f', '\n', '\r', '\v':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// unescape decodes the escape after a backslash; s starts after it. It
// returns the byte and how many bytes of s it used.
func unescape(s string) (byte, int, error) {
	if s == "" {
		return 0, 0, errors.New("command line ends with a backslash")
	}
	switch c := s[0]; {
	case c == 'x' && len(s) > 1 && isHex(s[1]):
		v, n := hexVal(s[1]), 2
		if len(s) > 2 && isHex(s[2]) {
			v, n = v<<4|hexVal(s[2]), 3
		}
		return v, n, nil
	case c == 'c' && len(s) > 1:
		return s[1] & 0x1f, 2, nil
	case c >= '0' && c <= '7':
		v, n := int(c-'0'), 1
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			v = v<<3 | int(s[n]-'0')
			n++
		}
		return byte(v), n, nil
	}
	switch s[0] {
	case 'a':
		return '\a', 1, nil
	case 'b':
		return '\b', 1, nil
	case 'E':
		return 0x1b, 1, nil
	case 'f':
		return '\f', 1, nil
	case 'n':
		return '\n', 1, nil
	case 'r':
		return '\r', 1, nil
	case 't':
		return '\t', 1, nil
	case 'v':
		return '\v', 1, nil
	}
	return s[0], 1, nil
}
