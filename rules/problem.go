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
	// Line and Column locate the problem in the file (1-based), or 0 when
	// unknown.
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
	// Hint suggests a fix, such as a likely intended name.
	Hint string `json:"hint,omitempty"`
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

// exprProblem is a problem inside one expression, located by the expr
// parser as a line (1-based) and column (0-based) within the expression.
type exprProblem struct {
	line, column int
	message      string
	hint         string
}

// offsetToPosition converts a rune offset in src to a 1-based line and a
// 0-based column.
func offsetToPosition(src string, offset int) (line, column int) {
	line = 1
	i := 0
	for _, r := range src {
		if i == offset {
			break
		}
		if r == '\n' {
			line++
			column = 0
		} else {
			column++
		}
		i++
	}
	return line, column
}
