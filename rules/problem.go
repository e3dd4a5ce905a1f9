package rules

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a rule, located as precisely as the
// input allows.
type Problem struct {
	// RuleID is the rule's id, when it has one.
	RuleID string `json:"rule_id,omitempty"`
	// Field is the path of the field, such as rules[2].condition.
	Field string `json:"field"`
	// Line and Column locate the problem (both 1-based, columns counted in
	// characters), or are 0 when unknown. ParseFile locates problems in the
	// file; Compile locates them inside the field's text.
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
	// Hint suggests a fix, such as a likely intended name.
	Hint string `json:"hint,omitempty"`
	// offset is the character offset of Line and Column in the field's
	// text, which ParseFile maps onto the file. It is meaningful only when
	// Line is set.
	offset int
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Column)
	}
	b.WriteString(p.Field)
	b.WriteString(": ")
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString(" (")
		b.WriteString(p.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// ValidationError lists every problem found in a rule file or rule, so a
// clinician can fix them all in one pass.
type ValidationError struct {
	Source   string    `json:"source,omitempty"`
	Problems []Problem `json:"problems"`
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
		if e.Source != "" {
			lines[i] = e.Source + ":" + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

// exprProblem is a problem inside one expression, located by its
// character offset in the expression, or -1 when it has no position.
type exprProblem struct {
	offset  int
	message string
	hint    string
}

// offsetToPosition converts a character (rune) offset in src to a line and
// a column, both 1-based. An offset past the end gives the position just
// after the last character.
func offsetToPosition(src string, offset int) (line, column int) {
	line, column = 1, 1
	i := 0
	for _, r := range src {
		if i == offset {
			break
		}
		if r == '\n' {
			line++
			column = 1
		} else {
			column++
		}
		i++
	}
	return line, column
}
