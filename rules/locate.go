package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/vytalwatch/vytalwatch"
)

// locator returns a function that sets a problem's line and column in the
// file from the YAML document. A problem located inside a field's text is
// mapped onto the file character by character, so positions stay right in
// quoted, multi-line and block scalars. Other problems point at the
// field's value, or at the rule when the field is absent.
func locator(file *ast.File, data []byte) func(p *Problem) {
	lines := splitLines(string(data))
	return func(p *Problem) {
		node := findNode(file, p.Field)
		if node == nil {
			p.Line, p.Column = 0, 0
			return
		}
		tok := startToken(node)
		if tok == nil || tok.Position == nil {
			p.Line, p.Column = 0, 0
			return
		}
		if p.Line > 0 {
			if line, col, ok := scalarPosition(lines, node, p.offset); ok {
				p.Line, p.Column = line, col
				return
			}
		}
		p.Line, p.Column = tok.Position.Line, tok.Position.Column
	}
}

// findNode returns the node of a field path such as rules[2].condition, or
// the node of its rule when the field is absent.
func findNode(file *ast.File, field string) ast.Node {
	if path, err := yaml.PathString("$." + field); err == nil {
		if node, err := path.FilterFile(file); err == nil && node != nil {
			return node
		}
	}
	i := strings.Index(field, "]")
	if i < 0 {
		return nil
	}
	path, err := yaml.PathString("$." + field[:i+1])
	if err != nil {
		return nil
	}
	node, err := path.FilterFile(file)
	if err != nil {
		return nil
	}
	return node
}

// startToken returns the first token of a node. A mapping's own token is
// the colon after its first key, so mappings start at that key.
func startToken(node ast.Node) *token.Token {
	switch n := node.(type) {
	case *ast.MappingNode:
		if len(n.Values) > 0 {
			return n.Values[0].Key.GetToken()
		}
	case *ast.MappingValueNode:
		return n.Key.GetToken()
	}
	return node.GetToken()
}

// splitLines splits a file with \n line breaks into lines of characters,
// without the line breaks.
func splitLines(s string) [][]rune {
	var out [][]rune
	for _, line := range strings.Split(s, "\n") {
		out = append(out, []rune(line))
	}
	return out
}

// scalarPosition returns the 1-based line and column in the file of the
// character at offset in a scalar node's value. It walks the value and the
// file's text side by side: characters that YAML drops from the value
// (indentation, line breaks folded into spaces, quotes and escape
// backslashes) are skipped in the text. ok is false when the two do not
// line up before offset, which happens for escapes such as \t or \u00e9
// in double-quoted scalars.
func scalarPosition(lines [][]rune, node ast.Node, offset int) (line, column int, ok bool) {
	value, row, col, ok := scalarStart(node)
	if !ok || row < 0 || row >= len(lines) || col > len(lines[row]) {
		return 0, 0, false
	}

	cursor := &textCursor{lines: lines, row: row, col: col}
	k := 0
	for _, v := range value {
		matchRow, matchCol, ok := cursor.match(v)
		if !ok {
			return 0, 0, false
		}
		if k == offset {
			return matchRow + 1, matchCol + 1, true
		}
		k++
	}

	if k == offset {
		// Just past the end of the value.
		return cursor.row + 1, cursor.col + 1, true
	}
	return 0, 0, false
}

// scalarStart returns a scalar node's value and the 0-based line and
// column in the file where its text starts.
func scalarStart(node ast.Node) (value string, row, col int, ok bool) {
	switch n := node.(type) {
	case *ast.StringNode:
		tok := n.GetToken()
		row, col = tok.Position.Line-1, tok.Position.Column-1
		if tok.Type == token.SingleQuoteType || tok.Type == token.DoubleQuoteType {
			col++
		}
		return n.Value, row, col, true
	case *ast.LiteralNode:
		// A block scalar's text starts on the line after its | or >
		// header.
		return n.Value.Value, n.Start.Position.Line, 0, true
	}
	return "", 0, 0, false
}

// textCursor is a position in a file's lines, with an implied '\n' at the
// end of every line but the last.
type textCursor struct {
	lines    [][]rune
	row, col int
}

// peek returns the character at the cursor, and false past the end of the
// file.
func (c *textCursor) peek() (rune, bool) {
	if c.row >= len(c.lines) {
		return 0, false
	}
	if c.col < len(c.lines[c.row]) {
		return c.lines[c.row][c.col], true
	}
	if c.row == len(c.lines)-1 {
		return 0, false
	}
	return '\n', true
}

func (c *textCursor) advance() {
	if c.col >= len(c.lines[c.row]) {
		c.row, c.col = c.row+1, 0
	} else {
		c.col++
	}
}

// match moves the cursor past the source text of one value character v
// and returns where that text is.
func (c *textCursor) match(v rune) (row, col int, ok bool) {
	for {
		r, more := c.peek()
		switch {
		case !more:
			return 0, 0, false
		case r == v:
			row, col = c.row, c.col
			c.advance()
			return row, col, true
		case isDroppedRune(r):
			c.advance()
		case v == ' ' || v == '\n' || v == '\t':
			// A space or line break that YAML made by folding, with no
			// text of its own.
			return c.row, c.col, true
		default:
			return 0, 0, false
		}
	}
}

// isDroppedRune reports whether YAML may drop a character of a scalar's
// source text from its value.
func isDroppedRune(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\'', '"', '\\':
		return true
	}
	return false
}

// unknownFields returns a problem for every key of the file that is not a
// field of File, Rule or Scope, with a suggestion for likely typos.
func unknownFields(file *ast.File) []Problem {
	var problems []Problem
	for _, doc := range file.Docs {
		for _, top := range mappingValues(doc.Body) {
			key := keyName(top)
			if key != "rules" {
				problems = append(problems, unknownField(top, key, key, []string{"rules"}))
				continue
			}
			seq, ok := unwrap(top.Value).(*ast.SequenceNode)
			if !ok {
				continue
			}
			for i, item := range seq.Values {
				for _, mv := range mappingValues(item) {
					field := fmt.Sprintf("rules[%d].%s", i, keyName(mv))
					problems = append(problems, checkKeys(mv, field, ruleFields)...)
					if keyName(mv) != "scope" {
						continue
					}
					for _, sv := range mappingValues(mv.Value) {
						problems = append(problems, checkKeys(sv, field+"."+keyName(sv), scopeFields)...)
					}
				}
			}
		}
	}
	return problems
}

// checkKeys returns a problem when the key of mv is not one of names.
func checkKeys(mv *ast.MappingValueNode, field string, names []string) []Problem {
	key := keyName(mv)
	if key == "<<" || slices.Contains(names, key) {
		return nil
	}
	return []Problem{unknownField(mv, key, field, names)}
}

func unknownField(mv *ast.MappingValueNode, key, field string, names []string) Problem {
	p := Problem{Field: field, Message: fmt.Sprintf("unknown field %q", key)}
	if s := vytalwatch.Suggest(key, names); s != "" {
		p.Hint = fmt.Sprintf("did you mean %s?", s)
	} else {
		p.Hint = "the fields are " + strings.Join(names, ", ")
	}
	if tok := mv.Key.GetToken(); tok != nil && tok.Position != nil {
		p.Line, p.Column = tok.Position.Line, tok.Position.Column
	}
	return p
}

func keyName(mv *ast.MappingValueNode) string {
	if tok := mv.Key.GetToken(); tok != nil {
		return tok.Value
	}
	return mv.Key.String()
}

// mappingValues returns the entries of a mapping node, which the parser
// gives as a MappingValueNode when there is only one.
func mappingValues(node ast.Node) []*ast.MappingValueNode {
	switch n := unwrap(node).(type) {
	case *ast.MappingNode:
		return n.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{n}
	}
	return nil
}

// unwrap returns the value under anchors and tags.
func unwrap(node ast.Node) ast.Node {
	for {
		switch n := node.(type) {
		case *ast.AnchorNode:
			node = n.Value
		case *ast.TagNode:
			node = n.Value
		default:
			return node
		}
	}
}

// yamlFields returns the YAML names of a struct type's fields.
func yamlFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

var (
	ruleFields  = yamlFields(reflect.TypeFor[Rule]())
	scopeFields = yamlFields(reflect.TypeFor[Scope]())
)
