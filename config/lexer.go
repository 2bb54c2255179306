package config

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// TokenKind is the kind of a lexical token.
type TokenKind int

// Token kinds. A ';' ends a statement exactly like the end of a line, so it
// is reported as TokEOL.
const (
	TokWord TokenKind = iota
	TokLBrace
	TokRBrace
	TokEOL
)

// Token is one lexical token with the file and line it came from.
type Token struct {
	Kind TokenKind
	Text string
	// Quoted is true when the word was written in quotes: it is never a
	// brace, a comment or a keyword.
	Quoted bool
	// Glued is true for a ';' written right after a word ("PASS;"), which
	// keepalived reads as part of that word.
	Glued bool
	Pos   Pos
}

const (
	maxIncludeDepth = 32
	maxFiles        = 1024
	maxExpandDepth  = 16
	maxLineBytes    = 64 << 10
)

// lexer turns files into tokens. It applies, line by line and in keepalived's
// order: comments, @node / @^node conditional lines, $NAME=value definitions,
// $NAME / ${NAME} expansion, then include, then tokenization.
type lexer struct {
	node     string
	readFile func(string) ([]byte, error)
	glob     func(string) ([]string, error)
	params   map[string]string
	toks     []Token
	errs     ErrorList
	warns    []Diagnostic
	stack    []string
	files    int
	// names are the config-ids the conditional lines name, whether or
	// not they match this node (Config.NodeNames).
	names map[string]bool
}

func newLexer(opts *LoadOptions) *lexer {
	l := &lexer{node: opts.Node, readFile: opts.ReadFile, glob: opts.Glob, params: map[string]string{}}
	if l.readFile == nil {
		l.readFile = os.ReadFile
	}
	if l.glob == nil {
		l.glob = filepath.Glob
	}
	return l
}

func (l *lexer) errorf(p Pos, format string, args ...any) {
	l.errs = append(l.errs, Diagnostic{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (l *lexer) warnf(p Pos, format string, args ...any) {
	l.warns = append(l.warns, Diagnostic{Pos: p, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// Lex tokenizes src as the file name, evaluated for node. Includes are read
// from the local file system. It is the lexer alone, exposed for tests and
// tools; Load is what callers normally want.
func Lex(name string, src []byte, node string) ([]Token, error) {
	l := newLexer(&LoadOptions{Node: node})
	l.file(name, src)
	if len(l.errs) > 0 {
		l.errs.Sort()
		return l.toks, l.errs
	}
	return l.toks, nil
}

// file lexes the content of one file.
func (l *lexer) file(name string, src []byte) {
	l.files++
	l.stack = append(l.stack, name)
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()
	lines := strings.Split(string(src), "\n")
	for i := 0; i < len(lines); i++ {
		pos := Pos{File: name, Line: i + 1}
		line := strings.TrimSuffix(lines[i], "\r")
		line = stripComment(line)
		// A trailing backslash continues the line (keepalived allows it for
		// multi-line parameter definitions; it is harmless elsewhere).
		for strings.HasSuffix(strings.TrimRight(line, " \t"), "\\") && i+1 < len(lines) {
			line = strings.TrimSuffix(strings.TrimRight(line, " \t"), "\\")
			i++
			line += " " + stripComment(strings.TrimSuffix(lines[i], "\r"))
			if len(line) > maxLineBytes {
				l.errorf(pos, "line too long")
				return
			}
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line[0] == '@' {
			var keep bool
			line, keep = l.conditional(line)
			if !keep || line == "" {
				continue
			}
		}
		if l.define(line, pos) {
			continue
		}
		line = l.expand(line, pos)
		if fields := strings.Fields(line); len(fields) > 0 && strings.HasPrefix(fields[0], "include") && isIncludeKeyword(fields[0]) {
			l.include(fields[0], fields[1:], name, pos)
			continue
		}
		l.tokenize(line, pos)
	}
}

// stripComment removes a '#' or '!' comment: one that starts a word and is
// not inside quotes (so "auth_pass ab!c" keeps its password).
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			if i == 0 || isSep(line[i-1]) {
				quote = c
			}
		case c == '#' || c == '!':
			if i == 0 || isSep(line[i-1]) {
				return line[:i]
			}
		}
	}
	return line
}

func isSep(c byte) bool {
	return c == ' ' || c == '\t' || c == ';' || c == '{' || c == '}'
}

// conditional handles "@node rest" and "@^node rest".
func (l *lexer) conditional(line string) (string, bool) {
	word, rest, _ := strings.Cut(line, " ")
	if i := strings.IndexByte(word, '\t'); i >= 0 {
		word, rest = line[:i], line[i+1:]
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(word, "@^") {
		l.sawNode(word[2:])
		return rest, word[2:] != l.node
	}
	l.sawNode(word[1:])
	return rest, word[1:] == l.node
}

func (l *lexer) sawNode(name string) {
	if name == "" {
		return
	}
	if l.names == nil {
		l.names = map[string]bool{}
	}
	l.names[name] = true
}

// nodeNames returns the names the conditional lines named, sorted (nil
// when there were none).
func (l *lexer) nodeNames() []string {
	if len(l.names) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(l.names))
}

// define handles "$NAME=value". It reports whether the line was a definition.
func (l *lexer) define(line string, pos Pos) bool {
	if line[0] != '$' {
		return false
	}
	eq := strings.IndexByte(line, '=')
	if eq < 2 {
		return false
	}
	name := strings.TrimSpace(line[1:eq])
	if !isParamName(name) {
		return false
	}
	l.params[name] = strings.TrimSpace(line[eq+1:])
	return true
}

func isParamName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// expand replaces $NAME and ${NAME} recursively. Unknown names are left as
// written, like keepalived does.
func (l *lexer) expand(line string, pos Pos) string {
	if !strings.Contains(line, "$") {
		return line
	}
	for depth := 0; ; depth++ {
		out, changed := l.expandOnce(line, pos)
		if !changed {
			return out
		}
		if depth == maxExpandDepth || len(out) > maxLineBytes {
			l.errorf(pos, "parameter expansion too deep (recursive definition?)")
			return out
		}
		line = out
	}
}

// builtin returns keepalived's predefined parameters that are
// deterministic: ${_PWD} (directory of the current file), ${_HASH} and
// ${_BANG}. The others (${_RANDOM}, ${_ENV}, ${_INSTANCE}) would make one
// replicated file mean different things on different nodes: they are errors.
func (l *lexer) builtin(name string, pos Pos) (string, bool) {
	switch name {
	case "_PWD":
		return filepath.Dir(pos.File), true
	case "_HASH":
		return "#", true
	case "_BANG":
		return "!", true
	}
	for _, p := range []string{"_RANDOM", "_ENV", "_INSTANCE"} {
		if name == p || strings.HasPrefix(name, p+" ") {
			l.errorf(pos, "not supported: ${%s}", p)
			return "", true
		}
	}
	return "", false
}

func (l *lexer) expandOnce(line string, pos Pos) (string, bool) {
	var b strings.Builder
	changed := false
	for i := 0; i < len(line); i++ {
		if line[i] != '$' || i+1 >= len(line) {
			b.WriteByte(line[i])
			continue
		}
		var name string
		end := i + 1
		if line[i+1] == '{' {
			j := strings.IndexByte(line[i+2:], '}')
			if j < 0 {
				b.WriteByte(line[i])
				continue
			}
			name, end = line[i+2:i+2+j], i+2+j+1
		} else {
			for end < len(line) && (line[end] == '_' || isAlnum(line[end])) {
				end++
			}
			name = line[i+1 : end]
		}
		v, ok := l.params[name]
		if !ok && strings.HasPrefix(name, "_") {
			v, ok = l.builtin(name, pos)
		}
		if !ok || name == "" {
			b.WriteByte(line[i])
			continue
		}
		b.WriteString(v)
		i = end - 1
		changed = true
	}
	return b.String(), changed
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isIncludeKeyword(w string) bool {
	switch w {
	case "include", "includer", "includem", "includew", "includeb", "includea":
		return true
	}
	return false
}

// include reads the files matching each pattern, relative to the directory
// of the including file. A pattern matching nothing is a warning (keepalived
// goes on without it too) except for includem and includea, which require a
// match.
func (l *lexer) include(kw string, patterns []string, from string, pos Pos) {
	if len(patterns) == 0 {
		l.errorf(pos, "%s needs a file name", kw)
		return
	}
	if len(l.stack) >= maxIncludeDepth {
		l.errorf(pos, "include nested too deeply (more than %d levels)", maxIncludeDepth)
		return
	}
	for _, raw := range patterns {
		raw = unquote(raw)
		for _, pat := range expandBraces(raw) {
			if !filepath.IsAbs(pat) {
				pat = filepath.Join(filepath.Dir(from), pat)
			}
			matches, err := l.glob(pat)
			if err != nil {
				l.errorf(pos, "include %q: %v", raw, err)
				continue
			}
			if len(matches) == 0 {
				if kw == "includem" || kw == "includea" {
					l.errorf(pos, "%s %q matches no file", kw, raw)
				} else {
					// keepalived goes on too, saying "Config files
					// missing" for a plain name.
					l.warnf(pos, "%s %q matches no file; nothing is included", kw, raw)
				}
			}
			for _, m := range matches {
				l.includeFile(m, pos)
			}
		}
	}
}

func (l *lexer) includeFile(name string, pos Pos) {
	for _, s := range l.stack {
		if filepath.Clean(s) == filepath.Clean(name) {
			l.errorf(pos, "include cycle: %s", strings.Join(append(append([]string{}, l.stack...), name), " -> "))
			return
		}
	}
	if l.files >= maxFiles {
		l.errorf(pos, "too many included files (more than %d)", maxFiles)
		return
	}
	src, err := l.readFile(name)
	if err != nil {
		l.errorf(pos, "include: %v", err)
		return
	}
	l.file(name, src)
}

// expandBraces does csh-style {a,b} expansion of one pattern.
func expandBraces(s string) []string {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return []string{s}
	}
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				var out []string
				for _, alt := range splitTopLevel(s[open+1 : i]) {
					out = append(out, expandBraces(s[:open]+alt+s[i+1:])...)
					if len(out) > maxFiles {
						return out[:maxFiles]
					}
				}
				return out
			}
		}
	}
	return []string{s}
}

func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// tokenize splits one logical line into tokens and ends it with TokEOL.
func (l *lexer) tokenize(line string, pos Pos) {
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r':
			i++
		case c == '{':
			l.toks = append(l.toks, Token{Kind: TokLBrace, Text: "{", Pos: pos})
			i++
		case c == '}':
			l.toks = append(l.toks, Token{Kind: TokRBrace, Text: "}", Pos: pos})
			i++
		case c == ';':
			glued := i > 0 && !isSpace(line[i-1]) && line[i-1] != ';' && line[i-1] != '{' && line[i-1] != '}'
			l.toks = append(l.toks, Token{Kind: TokEOL, Text: ";", Pos: pos, Glued: glued})
			i++
		case c == '"' || c == '\'':
			text, n, ok := scanQuoted(line[i:])
			if !ok {
				l.errorf(pos, "unterminated quoted string")
			}
			l.toks = append(l.toks, Token{Kind: TokWord, Text: text, Quoted: true, Pos: pos})
			i += n
		default:
			j := i
			for j < len(line) && !isSpace(line[j]) && line[j] != ';' && !(line[j] == '}' || line[j] == '{') {
				j++
			}
			if j == i { // unreachable: c is not a separator
				j++
			}
			l.toks = append(l.toks, Token{Kind: TokWord, Text: line[i:j], Pos: pos})
			i = j
		}
	}
	l.toks = append(l.toks, Token{Kind: TokEOL, Pos: pos})
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'
}

// scanQuoted reads a quoted string at the start of s. Double quotes take
// C-style escapes (\n \t \r \\ \" \' \a \b \f \v \xHH \ooo); single quotes
// are literal. It returns the text, the bytes consumed and whether the quote
// was closed.
func scanQuoted(s string) (string, int, bool) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == q {
			return b.String(), i + 1, true
		}
		if c != '\\' || q == '\'' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1 < len(s) && isHex(s[i+1]) {
				v = v*16 + hexVal(s[i+1])
				i++
				n++
			}
			if n == 0 {
				b.WriteString("\\x")
			} else {
				b.WriteByte(byte(v))
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, n := int(e-'0'), 1
			for n < 3 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7' {
				v = v*8 + int(s[i+1]-'0')
				i++
				n++
			}
			b.WriteByte(byte(v))
		default:
			b.WriteByte(e)
		}
	}
	return b.String(), len(s), false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	default:
		return int(c-'A') + 10
	}
}
