package config

// Stmt is one statement of the syntax tree: a keyword, its arguments on the
// same line, and an optional block in braces (opened on the same line or
// alone on the next one).
type Stmt struct {
	Pos      Pos
	Key      string
	Args     []Token
	HasBlock bool
	Block    []*Stmt
	// Semi is set when the statement ended at a ';' rather than at the end
	// of the line; SemiGlued when that ';' touched its last word. keepalived
	// does not split statements at ';' (see decoder.semicolons).
	Semi, SemiGlued bool
}

// ArgStrings returns the text of the arguments.
func (s *Stmt) ArgStrings() []string {
	out := make([]string, len(s.Args))
	for i, a := range s.Args {
		out[i] = a.Text
	}
	return out
}

const maxNesting = 64

type parser struct {
	toks []Token
	i    int
	errs ErrorList
}

// Parse builds the statement tree from tokens. It never fails outright:
// syntax errors are collected and parsing continues with what follows.
func Parse(toks []Token) ([]*Stmt, ErrorList) {
	p := &parser{toks: toks}
	stmts := p.list(0, Pos{})
	p.errs.Sort()
	return stmts, p.errs
}

func (p *parser) errorf(pos Pos, msg string) {
	p.errs = append(p.errs, Diagnostic{Pos: pos, Msg: msg})
}

func (p *parser) peek() (Token, bool) {
	if p.i >= len(p.toks) {
		return Token{}, false
	}
	return p.toks[p.i], true
}

// list parses statements until the closing brace of the block opened at open
// (depth > 0) or the end of input (depth 0).
func (p *parser) list(depth int, open Pos) []*Stmt {
	var out []*Stmt
	for {
		t, ok := p.peek()
		if !ok {
			if depth > 0 {
				p.errorf(open, "missing '}' for the block opened here")
			}
			return out
		}
		switch t.Kind {
		case TokEOL:
			p.i++
		case TokRBrace:
			p.i++
			if depth > 0 {
				return out
			}
			p.errorf(t.Pos, "unexpected '}'")
		case TokLBrace:
			p.i++
			p.errorf(t.Pos, "unexpected '{' without a keyword")
			if depth < maxNesting {
				p.list(depth+1, t.Pos)
			}
		case TokWord:
			out = append(out, p.stmt(depth))
		}
	}
}

func (p *parser) stmt(depth int) *Stmt {
	t := p.toks[p.i]
	p.i++
	s := &Stmt{Pos: t.Pos, Key: t.Text}
	if t.Quoted {
		// A quoted first word is an item of a list block (a quoted
		// address or name), never a keyword; keep it as the key.
		s.Key = t.Text
	}
	for {
		n, ok := p.peek()
		if !ok {
			return s
		}
		switch n.Kind {
		case TokWord:
			s.Args = append(s.Args, n)
			p.i++
			continue
		case TokLBrace:
			p.i++
			p.block(s, depth, n.Pos)
			return s
		case TokRBrace:
			return s
		case TokEOL:
			p.i++
			if n.Text == ";" {
				s.Semi, s.SemiGlued = true, n.Glued
			}
			// A block may open alone on the following line.
			if n.Text == "" {
				if nn, ok := p.peek(); ok && nn.Kind == TokLBrace && nn.Pos.File == n.Pos.File {
					p.i++
					p.block(s, depth, nn.Pos)
				}
			}
			return s
		}
	}
}

func (p *parser) block(s *Stmt, depth int, open Pos) {
	s.HasBlock = true
	if depth+1 > maxNesting {
		p.errorf(open, "blocks nested too deeply")
		// Skip to the matching brace without recursion.
		level := 1
		for p.i < len(p.toks) && level > 0 {
			switch p.toks[p.i].Kind {
			case TokLBrace:
				level++
			case TokRBrace:
				level--
			}
			p.i++
		}
		return
	}
	s.Block = p.list(depth+1, open)
}
