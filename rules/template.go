package rules

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vytalwatch/vytalwatch/operators"
)

// template is a message with {{ expression }} parts, such as
// 'BP {{ last("systolic_bp") }}/{{ last("diastolic_bp") }} mmHg'.
type template struct {
	parts []templatePart
}

type templatePart struct {
	text string
	expr bool
	// offset is the character offset of an expression's text in the
	// message, for locating problems.
	offset int
}

// parseTemplate splits a message into text and expressions. It returns
// the character offset of an unclosed "{{" as an error position, or -1.
func parseTemplate(s string) (*template, int) {
	t := &template{}
	done := 0 // bytes of the message already split off
	for done < len(s) {
		rest := s[done:]
		start := strings.Index(rest, "{{")
		if start < 0 {
			t.parts = append(t.parts, templatePart{text: rest})
			break
		}
		if start > 0 {
			t.parts = append(t.parts, templatePart{text: rest[:start]})
		}
		end := strings.Index(rest[start:], "}}")
		if end < 0 {
			return nil, utf8.RuneCountInString(s[:done+start])
		}
		inner := rest[start+2 : start+end]
		text := strings.TrimSpace(inner)
		lead := len(inner) - len(strings.TrimLeftFunc(inner, unicode.IsSpace))
		offset := utf8.RuneCountInString(s[:done+start+2+lead])
		t.parts = append(t.parts, templatePart{text: text, expr: true, offset: offset})
		done += start + end + 2
	}
	return t, -1
}

// render writes the template with each expression's value; eval returns
// the value of the k-th part. Unknown values print as "?", so a message
// never shows a made-up number.
func (t *template) render(eval func(k int) (any, error)) string {
	var b strings.Builder
	for k, p := range t.parts {
		if !p.expr {
			b.WriteString(p.text)
			continue
		}
		v, err := eval(k)
		if err != nil {
			b.WriteString("?")
			continue
		}
		b.WriteString(formatValue(v))
	}
	return b.String()
}

func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) {
			return "?"
		}
		rounded := x
		if math.Abs(x) < 1e15 {
			// Larger values carry less than two decimals of precision, and
			// x*100 could overflow to infinity.
			rounded = math.Round(x*100) / 100
		}
		if rounded == 0 {
			// Values such as -0.001 round to negative zero, which would
			// print as "-0".
			rounded = 0
		}
		return strconv.FormatFloat(rounded, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case operators.Truth:
		if x == operators.Unknown {
			return "?"
		}
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	case time.Time:
		return x.Format(time.RFC3339)
	case time.Duration:
		return x.String()
	}
	return "?"
}
